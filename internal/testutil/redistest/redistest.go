// Package redistest starts real redis-server processes for tests: a single
// node (optionally with a password, ACL users or TLS) and a Redis Cluster.
// Every server runs on a free loopback port in a temporary directory, keeps
// nothing on disk (--save "" --appendonly no) and is stopped when the test
// ends.
//
// It is imported only by tests. The binaries come from Debian's
// redis-server and redis-tools packages; `make deps` installs them.
package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/testutil/poll"
)

const (
	// startTimeout bounds how long a server may take to answer PING.
	startTimeout = 15 * time.Second
	// stopTimeout bounds how long a server may take to exit on SIGTERM
	// before it is killed.
	stopTimeout = 10 * time.Second
	// startAttempts is how often a start on a freshly picked port is tried
	// when another process took the port in the meantime.
	startAttempts = 5
)

// Instance is one redis-server process.
type Instance struct {
	t       testing.TB // nil when made by Launch
	bin     string
	dir     string
	logPath string
	port    int
	args    []string    // every argument, the port included
	tls     *tls.Config // client configuration when the server speaks TLS only

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
}

// Server starts a redis-server on a free loopback port and returns it once
// it answers PING. args are appended to the defaults (--bind 127.0.0.1
// --save "" --appendonly no, in a t.TempDir()), so they can add options
// such as RequirePass or ACLUser, or override a default. The server is
// stopped when the test ends.
func Server(t testing.TB, args ...string) *Instance {
	t.Helper()
	return start(t, func(port int) []string { return []string{"--port", strconv.Itoa(port)} }, nil, args)
}

// RequirePass returns the arguments that make the default user require
// password.
func RequirePass(password string) []string {
	return []string{"--requirepass", password}
}

// ACLUser returns the arguments that create the ACL user name with password
// and full access to every key, channel and command, and switch the default
// user off, so that only name can connect.
func ACLUser(name, password string) []string {
	return []string{
		"--user", name, "on", ">" + password, "~*", "&*", "+@all",
		"--user", "default", "off",
	}
}

// bin returns the path of a redis binary or fails the test telling how to
// install it.
func binary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s not found (%v): install %s: make deps", name, err, pkg)
	}
	return p
}

// start runs a server whose listening arguments for a port come from listen;
// tlsClient is the client configuration to reach it when it speaks TLS only.
func start(t testing.TB, listen func(port int) []string, tlsClient *tls.Config, extra []string) *Instance {
	t.Helper()
	in, err := launch(binary(t, "redis-server", "redis-server"), t.TempDir(), listen, tlsClient, extra)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	in.t = t
	t.Cleanup(in.Stop)
	return in
}

// Launch starts a redis-server on a free loopback port that keeps nothing
// on disk, with dir as its working directory and log, and returns it once
// it answers PING; args are appended to the defaults as for Server. It is
// Server for programs other than tests (the benchmark harness): the caller
// stops it with Stop.
func Launch(dir string, args ...string) (*Instance, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server not found (%w): install redis-server: make deps", err)
	}
	return launch(bin, dir, func(port int) []string { return []string{"--port", strconv.Itoa(port)} }, nil, args)
}

// launch runs bin in dir on a free port, trying another port when a
// process took the one picked in the meantime.
func launch(bin, dir string, listen func(port int) []string, tlsClient *tls.Config, extra []string) (*Instance, error) {
	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		in := &Instance{
			bin:     bin,
			dir:     dir,
			logPath: filepath.Join(dir, "redis.log"),
			port:    port,
			tls:     tlsClient,
		}
		in.args = append([]string{
			"--bind", "127.0.0.1",
			"--save", "",
			"--appendonly", "no",
			"--daemonize", "no",
			"--dir", dir,
			"--logfile", in.logPath,
		}, listen(port)...)
		in.args = append(in.args, extra...)
		if lastErr = in.run(); lastErr == nil {
			return in, nil
		}
		if !strings.Contains(in.log(), "Address already in use") {
			break
		}
	}
	return nil, lastErr
}

// Addr returns the host:port the server listens on.
func (in *Instance) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in.port))
}

// Start starts the server again, on the same port, after Stop, and returns
// once it answers PING. It fails the test if the server does not come up.
// Starting a running server does nothing.
func (in *Instance) Start() {
	in.t.Helper()
	if err := in.run(); err != nil {
		in.t.Fatalf("redistest: restart %s: %v", in.Addr(), err)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL if it lingers) and waits
// until it has exited, so its port is closed when Stop returns. Stopping a
// stopped server does nothing.
func (in *Instance) Stop() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-in.exited:
	case <-time.After(stopTimeout):
		_ = in.cmd.Process.Kill()
		<-in.exited
	}
	in.cmd = nil
	if in.t != nil && in.t.Failed() {
		in.t.Logf("redistest: log of %s:\n%s", in.Addr(), in.log())
	}
}

// run starts the process and waits until it answers PING.
func (in *Instance) run() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.cmd != nil {
		return nil
	}
	cmd := exec.Command(in.bin, in.args...)
	cmd.Dir = in.dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	if err := waitReady(in.Addr(), in.tls, exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server on %s: %w; log:\n%s", in.Addr(), err, in.log())
	}
	in.cmd, in.exited = cmd, exited
	return nil
}

// log returns the server's log file.
func (in *Instance) log() string {
	b, _ := os.ReadFile(in.logPath)
	return string(b)
}

// waitReady polls addr with PING until it answers (any reply, an
// authentication error included, means the server is up), the process
// exits, or startTimeout passes.
func waitReady(addr string, tlsConf *tls.Config, exited <-chan struct{}) error {
	return poll.Wait(startTimeout, func() error {
		select {
		case <-exited:
			return poll.Stop(errors.New("exited before answering PING"))
		default:
		}
		_, err := command(addr, tlsConf, "PING")
		if _, ok := errors.AsType[replyError](err); ok {
			return nil
		}
		return err
	})
}

// freePort returns a TCP port on the loopback interface that was free a
// moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// replyError is an error reply of the server.
type replyError string

func (e replyError) Error() string { return string(e) }

// command sends one command on a fresh connection and returns its reply
// when that is a simple string, an integer or a bulk string. An error reply
// is returned as a replyError.
func command(addr string, tlsConf *tls.Config, args ...string) (string, error) {
	d := &net.Dialer{Timeout: time.Second}
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConf)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&req, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, req.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", replyError(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("unexpected reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// Backup saves the data set (SAVE) and returns a copy of the dump file, as
// an operator's backup of a production Redis would be.
func (in *Instance) Backup() []byte {
	in.t.Helper()
	if _, err := command(in.Addr(), in.tls, "SAVE"); err != nil {
		in.t.Fatalf("redistest: SAVE on %s: %v", in.Addr(), err)
	}
	b, err := os.ReadFile(filepath.Join(in.dir, "dump.rdb"))
	if err != nil {
		in.t.Fatalf("redistest: read the dump of %s: %v", in.Addr(), err)
	}
	return b
}

// RestartWith stops the server and starts it again on the same port with
// dump (from Backup) as its data set, or empty when dump is nil: a Redis
// restored from a backup, or restarted without persistence.
func (in *Instance) RestartWith(dump []byte) {
	in.t.Helper()
	in.Stop()
	path := filepath.Join(in.dir, "dump.rdb")
	var err error
	if dump == nil {
		err = os.Remove(path)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	} else {
		err = os.WriteFile(path, dump, 0o600)
	}
	if err != nil {
		in.t.Fatalf("redistest: %v", err)
	}
	in.Start()
}
