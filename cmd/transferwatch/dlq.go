package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/dlq"
	"github.com/transferwatch/transferwatch/internal/kafkadial"
)

const dlqUsage = `Usage: transferwatch dlq replay --config FILE [--dry-run] [--max N] [--group NAME] [--from-beginning]

Once a producer is fixed (or transferwatch accepts what it refused), send the dead letters
that are valid events now back to the events topic (kafka.topic), with their original key,
value and headers, and a header tw-replayed-from. Each value is validated as the service
does; the invalid ones, those of another source topic and those cut to fit the dead-letter
topic stay where they are. Prints counts, by partition and by the field at fault; never a
key or a value (dead letters hold raw subject identifiers).

The replay reads as a consumer group of its own and commits what it handled, so that each
dead letter is replayed once; it stops at the end the topic had when it began.

Flags:
  --config FILE       configuration file (brokers, TLS, SASL, topics; no subject key needed)
  --dry-run           read and validate; send and commit nothing
  --max N             stop after N dead letters (0: all)
  --group NAME        the replay's consumer group (default: kafka.group_id + "-dlq-replay")
  --from-beginning    read every dead letter Kafka holds, whatever the group committed
                      (those sent before are sent again; counts do not change)
  --timeout D         give up after D (default 10m)
`

// dlqCmd runs `transferwatch dlq replay`.
func dlqCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || args[0] != "replay" {
		fmt.Fprint(stderr, dlqUsage)
		return 2
	}
	fs := newFlagSet("dlq replay", stderr)
	configPath := fs.String("config", "", "configuration file")
	dryRun := fs.Bool("dry-run", false, "read and validate; send and commit nothing")
	max := fs.Int("max", 0, "stop after this many dead letters (0: all)")
	group := fs.String("group", "", `the replay's consumer group (default: kafka.group_id + "-dlq-replay")`)
	fromBeginning := fs.Bool("from-beginning", false, "read every dead letter Kafka holds")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *configPath == "" || fs.NArg() > 0 || *max < 0 {
		fmt.Fprintln(stderr, "transferwatch dlq replay: --config FILE is required, --max must not be negative, and nothing else")
		return 2
	}
	cfg, _, err := config.LoadOffline(*configPath, getenv)
	if err != nil {
		printProblems(stderr, *configPath, err)
		return 1
	}
	kset, err := kafkadial.New(cfg.Kafka)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch dlq replay: %v\n", err)
		return 1
	}
	if *group == "" {
		*group = cfg.Kafka.GroupID + "-dlq-replay"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := dlq.Replay(ctx, dlq.Options{
		Brokers:         cfg.Kafka.Brokers,
		Dialer:          kset.Dialer(),
		Transport:       kset.Transport(),
		DeadLetterTopic: cfg.Kafka.DeadLetterTopic,
		EventsTopic:     cfg.Kafka.Topic,
		Group:           *group,
		DryRun:          *dryRun,
		FromBeginning:   *fromBeginning,
		Max:             *max,
	})
	printReplay(stdout, cfg, *group, *dryRun, rep)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch dlq replay: %v\n", err)
		return 1
	}
	return 0
}

// printReplay prints what a replay did: counts and offsets only.
func printReplay(w io.Writer, cfg *config.Config, group string, dryRun bool, rep dlq.Report) {
	fmt.Fprintf(w, "dead-letter topic %s, replay group %s\n", cfg.Kafka.DeadLetterTopic, group)
	for _, p := range slices.Sorted(maps.Keys(rep.Partitions)) {
		r := rep.Partitions[p]
		fmt.Fprintf(w, "  partition %d: offsets %d to %d\n", p, r.From, r.To-1)
	}
	verb := "sent back to"
	if dryRun {
		verb = "valid, would be sent back to"
	}
	fmt.Fprintf(w, "read %d dead letters: %d %s %s, %d left in the dead-letter topic\n",
		rep.Read, rep.Sent, verb, cfg.Kafka.Topic, rep.Skipped())
	for _, f := range rep.Fields() {
		fmt.Fprintf(w, "  still invalid, %s: %d\n", f, rep.Invalid[f])
	}
	if rep.OtherTopic > 0 {
		fmt.Fprintf(w, "  from another source topic than %s: %d\n", cfg.Kafka.Topic, rep.OtherTopic)
	}
	if rep.Truncated > 0 {
		fmt.Fprintf(w, "  value cut to fit the dead-letter topic (tw-value-truncated): %d\n", rep.Truncated)
	}
	switch {
	case dryRun:
		fmt.Fprintln(w, "dry run: nothing sent, nothing committed")
	case rep.Limited:
		fmt.Fprintln(w, "stopped at --max; run again for the rest")
	}
}
