package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/ingest"
	"github.com/transferwatch/transferwatch/internal/store"
)

const storeUsage = `Usage:
  transferwatch store status --config FILE
      per partition: what the consumer group committed, what the store's
      figures cover, what Kafka still holds; the losses accepted so far
  transferwatch store accept-loss --config FILE [--reason TEXT] [--dry-run]
      after a store lost data that Kafka no longer has: record the loss and
      let the service count again from the oldest events Kafka holds
`

// storeCmd runs `transferwatch store SUBCOMMAND`.
func storeCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 || (args[0] != "status" && args[0] != "accept-loss") {
		fmt.Fprint(stderr, storeUsage)
		return 2
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("store "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file")
	var reason *string
	var dryRun *bool
	if sub == "accept-loss" {
		reason = fs.String("reason", "", "a note recorded with the loss (who, why)")
		dryRun = fs.Bool("dry-run", false, "say what would be recorded, record nothing")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "transferwatch store %s: --config FILE is required, and nothing else\n", sub)
		return 2
	}
	cfg, err := config.Load(*configPath, getenv)
	if err != nil {
		printProblems(stderr, *configPath, err)
		return 1
	}
	st, err := app.OpenStore(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch store: %v\n", err)
		return 1
	}
	defer st.Close()
	admin, err := app.NewAdmin(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch store: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	audit, err := admin.Audit(ctx, st)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch store: %v\n", err)
		return 1
	}
	group, topic := cfg.Kafka.GroupID, cfg.Kafka.Topic
	if sub == "status" {
		losses, err := st.Losses(ctx, group, topic)
		if err != nil {
			fmt.Fprintf(stderr, "transferwatch store: %v\n", err)
			return 1
		}
		printAudit(stdout, group, topic, audit)
		for _, l := range losses {
			fmt.Fprintf(stdout, "loss accepted %s: %s%s\n", l.At.Format(time.RFC3339), ranges(l.Partitions), note(l.Reason))
		}
		return 0
	}

	loss := store.Loss{At: time.Now().UTC(), Reason: *reason}
	for _, a := range audit {
		if a.Lost != nil {
			loss.Partitions = append(loss.Partitions, store.LostRange{Partition: a.Partition, From: a.Lost.From(), To: a.Lost.Oldest})
		}
	}
	printAudit(stdout, group, topic, audit)
	if len(loss.Partitions) == 0 {
		fmt.Fprintln(stdout, "nothing lost: every event the group committed is in the store or still in Kafka (the service replays those); nothing recorded")
		return 0
	}
	if *dryRun {
		fmt.Fprintf(stdout, "would record the loss of %s (dry run: nothing recorded)\n", ranges(loss.Partitions))
		return 0
	}
	if err := st.AcceptLoss(ctx, group, topic, loss); err != nil {
		fmt.Fprintf(stderr, "transferwatch store accept-loss: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "recorded the loss of %s; the service counts again from the oldest events Kafka holds\n", ranges(loss.Partitions))
	return 0
}

func printAudit(w io.Writer, group, topic string, audit []ingest.PartitionAudit) {
	fmt.Fprintf(w, "group %s, topic %s\n", group, topic)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "partition\tcommitted\tstore\tkafka oldest\tkafka newest\tstate")
	for _, a := range audit {
		state := "ok"
		switch {
		case a.Lost != nil:
			state = fmt.Sprintf("LOST: %d events counted nowhere (offsets %d to %d)", a.Lost.Oldest-a.Lost.From(), a.Lost.From(), a.Lost.Oldest-1)
		case a.Behind():
			state = "behind: the service replays it from Kafka"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\n", a.Partition, offset(a.Committed), offset(a.Stored), a.Oldest, a.Newest, state)
	}
	tw.Flush()
}

func offset(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

func ranges(rs []store.LostRange) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("partition %d offsets %d to %d (%d events)", r.Partition, r.From, r.To-1, r.To-r.From)
	}
	return strings.Join(parts, ", ")
}

func note(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}
