package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
)

// clusterTimeout bounds how long a new cluster may take to agree on its
// configuration.
const clusterTimeout = 60 * time.Second

// Cluster starts a Redis Cluster of n master nodes without replicas (n must
// be at least 3, Redis' minimum) and returns the nodes' addresses once
// every node reports cluster_state:ok and knows all n nodes. The nodes are
// stopped when the test ends.
func Cluster(t testing.TB, n int) []string {
	t.Helper()
	if n < 3 {
		t.Fatalf("redistest: a Redis Cluster needs at least 3 masters, not %d", n)
	}
	cli := binary(t, "redis-cli", "redis-tools")
	addrs := make([]string, n)
	for i := range addrs {
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		in := start(t, func(port int) []string {
			return []string{"--port", strconv.Itoa(port)}
		}, nil, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "5000",
		})
		addrs[i] = in.Addr()
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}

	for _, addr := range addrs {
		if err := poll.Wait(clusterTimeout, func() error { return clusterReady(addr, n) }); err != nil {
			t.Fatalf("redistest: cluster at %s not ready: %v", addr, err)
		}
	}
	return addrs
}

// clusterReady checks that the node at addr sees a healthy cluster of n
// nodes with every slot assigned.
func clusterReady(addr string, n int) error {
	info, err := command(addr, nil, "CLUSTER", "INFO")
	if err != nil {
		return fmt.Errorf("%s: CLUSTER INFO: %w", addr, err)
	}
	want := []string{
		"cluster_state:ok",
		"cluster_slots_assigned:16384",
		"cluster_slots_ok:16384",
		"cluster_known_nodes:" + strconv.Itoa(n),
	}
	for _, w := range want {
		if !strings.Contains(info, w+"\r\n") {
			return fmt.Errorf("%s: CLUSTER INFO lacks %s:\n%s", addr, w, info)
		}
	}
	return nil
}
