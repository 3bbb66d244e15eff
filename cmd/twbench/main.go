// Command twbench is the end-to-end benchmark of `make bench`: it drains
// the same generated topic of an in-process Kafka broker with a bare
// consumer (the ceiling), a do-it-yourself PFADD-per-event consumer (the
// baseline), a batched, pipelined PFADD consumer (the strong baseline) and
// transferwatch, against a redis-server it starts, and prints a
// markdown table. See cmd/twbench/internal/bench and docs/benchmarks.md.
//
//	twbench [-out FILE] [-doc docs/benchmarks.md] [-only s1-e10-p1,...] [-variants ceiling,batched,transferwatch] [-scale 0.5] [-rounds 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/transferwatch/transferwatch/cmd/twbench/internal/bench"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("twbench", flag.ContinueOnError)
	out := fs.String("out", "", "also write the markdown table to this file")
	doc := fs.String("doc", "", "also write the markdown table into this file, between the lines "+bench.DocBegin+" and "+bench.DocEnd)
	only := fs.String("only", "", "comma-separated workloads to run (e.g. s1-e10-p1); default all")
	vars := fs.String("variants", "", "comma-separated variants (ceiling, baseline, batched, transferwatch); default all")
	rounds := fs.Int("rounds", 0, "run every workload this many times (interleaved) and report the median; default 3 for s1-e10-p1, 1 for the others")
	scale := fs.Float64("scale", 1, "multiply the backlog sizes (and so the run time)")
	flush := fs.Duration("flush-interval", time.Second, "transferwatch's flush_interval")
	child := fs.Bool("child", false, "internal: run one variant as the harness asks on stdin")
	profiles := fs.String("profile", "", "write a CPU profile of each variant's run into this directory")
	memLimit := fs.Int64("memlimit", 0, "the transferwatch child's soft memory limit in MiB (runtime/debug.SetMemoryLimit, as GOMEMLIMIT does; the chart sets 90% of the container's limit); 0 for none")
	verbose := fs.Bool("v", false, "log the children's warnings")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	level := slog.LevelError
	if *verbose {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if *child {
		if err := bench.RunChild(os.Stdin, os.Stdout, log); err != nil {
			fmt.Fprintln(os.Stderr, "twbench child:", err)
			return 1
		}
		return 0
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "twbench:", err)
		return 1
	}
	childArgs := []string{self, "-child"}
	if *verbose {
		childArgs = append(childArgs, "-v")
	}
	workloads := bench.DefaultWorkloads()
	if *only != "" {
		names := strings.Split(*only, ",")
		workloads = slices.DeleteFunc(workloads, func(w bench.Workload) bool { return !slices.Contains(names, w.Name()) })
		if len(workloads) == 0 {
			fmt.Fprintf(os.Stderr, "twbench: no workload named %s\n", *only)
			return 2
		}
	}
	for i := range workloads {
		workloads[i].Events = max(1000, int(float64(workloads[i].Events)**scale))
		if *rounds > 0 {
			workloads[i].Rounds = *rounds
		}
	}
	var variants []string
	if *vars != "" {
		variants = strings.Split(*vars, ",")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	started := time.Now()
	fmt.Fprintf(os.Stderr, "twbench: %d workloads × %d variants, GOMAXPROCS %d\n", len(workloads), max(len(variants), 4), runtime.GOMAXPROCS(0))
	results, err := bench.Run(ctx, bench.Options{
		Workloads:     workloads,
		Variants:      variants,
		Child:         childArgs,
		FlushInterval: *flush,
		ProfileDir:    *profiles,
		MemoryLimit:   *memLimit << 20,
		Progress:      os.Stderr,
	})
	bench.Markdown(os.Stdout, results)
	if *out != "" {
		f, ferr := os.Create(*out)
		if ferr == nil {
			bench.Markdown(f, results)
			ferr = f.Close()
		}
		if ferr != nil {
			fmt.Fprintln(os.Stderr, "twbench:", ferr)
			return 1
		}
	}
	if *doc != "" {
		if derr := bench.WriteDoc(*doc, results, started); derr != nil {
			fmt.Fprintln(os.Stderr, "twbench:", derr)
			return 1
		}
	}
	fmt.Fprintf(os.Stderr, "twbench: done in %s\n", time.Since(started).Round(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "twbench:", err)
		return 1
	}
	return 0
}
