package app_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
)

// TestActorEndingStopsTheProcess: when one actor of the run group ends
// while the service should run (here the HTTP server, its listener closed
// under it), Run returns an error naming it within seconds instead of
// leaving a process alive without it.
func TestActorEndingStopsTheProcess(t *testing.T) {
	cfg := config.Default()
	c := kafkatest.New(t, 1, cfg.Kafka.Topic, cfg.Kafka.DeadLetterTopic, cfg.Kafka.DecisionsTopic)
	cfg.Kafka.Brokers = []string{c.Addr()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	cfg.HasSubjectKey = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	done := make(chan error, 1)
	ctx := t.Context()
	go func() {
		done <- app.Run(ctx, app.Options{
			Config: cfg, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
			Store: memstore.New(), Listener: ln, ShutdownTimeout: 5 * time.Second,
			Started: func(string) { close(started) },
		})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("Run ended at start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("not started within 30s")
	}
	ln.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "http") {
			t.Fatalf("Run = %v; want an error naming the http actor", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run still running 20s after its HTTP server died")
	}
}
