// Command transferwatch counts the distinct people whose personal
// information leaves China, holds the counts against the CAC thresholds and
// tells pipelines when to stop. See `transferwatch help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/buildinfo"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/demo"
)

const usage = `transferwatch — real-time counting of outbound personal-information transfers
against the CAC security-assessment thresholds.

Usage:
  transferwatch run --config FILE     the service (Kafka in, Redis sketches, decisions out, HTTP)
  transferwatch demo                  the whole product on embedded defaults, no setup needed
  transferwatch check-config --config FILE [--offline]
                                      validate a configuration; print every problem
  transferwatch entity ID [--url URL | --config FILE] [--json]
                                      one entity's status, from the API or the store
  transferwatch dlq replay --config FILE [--dry-run] [--max N]
                                      send the dead letters that are valid now back to the events
  transferwatch store status|accept-loss --config FILE
                                      what the store covers; accept a loss after a store lost data
  transferwatch report --config FILE --entity ID --out DIR [--lang en|zh]
                                      the evidence pack of one entity, from the store
  transferwatch version               version, commit, Go version

'transferwatch COMMAND --help' describes a command.

Flags of run and demo:
  --config FILE        configuration file (YAML; unknown keys are errors)
  --http-addr ADDR     overrides http.addr
  --log-level LEVEL    debug, info, warn or error (default info)
  --duration D         demo only: stop by itself after D (e.g. 2m)

Environment overrides: TW_KAFKA_BROKERS, TW_REDIS_ADDRS, TW_REDIS_PASSWORD,
TW_SUBJECT_KEY, TW_HTTP_ADDR, TW_API_TOKEN.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	if help, ok := helpFor(cmd); ok && wantsHelp(args) {
		fmt.Fprint(stdout, help)
		return 0
	}
	switch cmd {
	case "version", "--version":
		i := buildinfo.Get()
		fmt.Fprintf(stdout, "transferwatch %s (commit %s, %s)\n", i.Version, i.Revision, i.GoVersion)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "store":
		return storeCmd(ctx, args, stdout, stderr, getenv)
	case "entity":
		return entityCmd(ctx, args, stdout, stderr, getenv)
	case "dlq":
		return dlqCmd(ctx, args, stdout, stderr, getenv)
	case "report":
		return reportCmd(ctx, args, stdout, stderr, getenv)
	case "run", "demo", "check-config":
	default:
		fmt.Fprintf(stderr, "transferwatch: unknown command %q\n\n%s", cmd, usage)
		return 2
	}

	fs := newFlagSet(cmd, stderr)
	configPath := fs.String("config", "", "configuration file")
	httpAddr := fs.String("http-addr", "", "overrides http.addr")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	var duration *time.Duration
	if cmd == "demo" {
		duration = fs.Duration("duration", 0, "stop by itself after this long (0: until interrupted)")
	}
	offline := new(bool)
	if cmd == "check-config" {
		offline = fs.Bool("offline", false, "no subject key needed; named files absent here are listed, not problems")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "transferwatch %s: unexpected arguments %q\n", cmd, fs.Args())
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "transferwatch: --log-level: %v\n", err)
		return 2
	}
	log := newLogger(stderr, level)
	// go-redis logs through a package-level logger of its own; route it into
	// the structured log so stderr stays JSON.
	redis.SetLogger(redisLogger{log.With("component", "redis")})

	switch cmd {
	case "check-config":
		return checkConfig(*configPath, *offline, stdout, stderr, getenv)
	case "demo":
		err := demo.Run(ctx, demo.Options{
			ConfigPath: *configPath,
			HTTPAddr:   *httpAddr,
			Duration:   *duration,
			Getenv:     getenv,
			Out:        stdout,
			Logger:     log,
		})
		if err != nil {
			fmt.Fprintf(stderr, "transferwatch demo: %v\n", err)
			return 1
		}
		return 0
	}

	// run
	if *configPath == "" {
		fmt.Fprintln(stderr, "transferwatch run: --config FILE is required")
		return 2
	}
	cfg, err := config.Load(*configPath, getenv)
	if err == nil {
		err = cfg.RequireSubjectKey()
	}
	if err != nil {
		printProblems(stderr, *configPath, err)
		return 1
	}
	if *httpAddr != "" {
		cfg.HTTP.Addr = *httpAddr
	}
	err = app.Run(ctx, app.Options{Config: cfg, Logger: log, Registry: prometheus.NewRegistry()})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Error("transferwatch stopped", "err", err)
		return 1
	}
	log.Info("transferwatch stopped cleanly")
	return 0
}

func checkConfig(path string, offline bool, stdout, stderr io.Writer, getenv func(string) string) int {
	if path == "" {
		fmt.Fprintln(stderr, "transferwatch check-config: --config FILE is required")
		return 2
	}
	var cfg *config.Config
	var absent []string
	var err error
	if offline {
		cfg, absent, err = config.LoadOffline(path, getenv)
	} else if cfg, err = config.Load(path, getenv); err == nil {
		err = cfg.RequireSubjectKey()
	}
	if err != nil {
		printProblems(stderr, path, err)
		return 1
	}
	mode := ""
	if offline {
		mode = ", offline"
	}
	fmt.Fprintf(stdout, "%s: ok (%d entities, policy %s, time zone %s%s)\n",
		path, len(cfg.Entities), cfg.Policy.Preset, cfg.Location, mode)
	for _, a := range absent {
		fmt.Fprintf(stdout, "  not checked, absent here: %s\n", a)
	}
	fmt.Fprint(stdout, cfg.PolicyDescription())
	return 0
}

// printProblems prints every problem of a joined error, one per line.
func printProblems(w io.Writer, path string, err error) {
	lines := strings.Split(err.Error(), "\n")
	fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(lines))
	for _, l := range lines {
		fmt.Fprintf(w, "  - %s\n", l)
	}
}

// redisLogger adapts slog to go-redis's logging interface.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}
