package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/dossier"
	"github.com/transferwatch/transferwatch/internal/i18n"
	"github.com/transferwatch/transferwatch/internal/report"
	"github.com/transferwatch/transferwatch/pkg/event"
)

const reportUsage = `Usage: transferwatch report --config FILE --entity ID --out DIR [--lang en|zh]

Write the evidence pack of one entity into DIR (made if missing): report.html (self-contained,
prints on A4), report.json (the dossier) and one CSV file per table (entity.csv, approvals.csv,
timeline.csv, counters.csv, rules.csv, series.csv, start_by.csv, flows.csv, history.csv,
plan.csv, checklist.csv, accuracy.csv).

It reads the store of the configuration directly and evaluates the entity with its policy, as
the service does, so it works while the service is down. No subject key is needed. Kafka must
be reachable: as the service does, it first checks that the store holds every event the
consumer group committed (see transferwatch store status), and refuses to write a pack from a
store that lost or rolled back data, or that it cannot check.

Flags:
  --config FILE   configuration file of the service
  --entity ID     the entity
  --out DIR       where to write the pack
  --lang LANG     en (default) or zh: the language of the labels
`

func reportCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := newFlagSet("report", stderr)
	configPath := fs.String("config", "", "configuration file")
	id := fs.String("entity", "", "the entity")
	out := fs.String("out", "", "where to write the pack")
	langFlag := fs.String("lang", "en", "en or zh")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *configPath == "" || *id == "" || *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "transferwatch report: --config FILE, --entity ID and --out DIR are required, and nothing else")
		return 2
	}
	if !event.ValidEntityID(*id) {
		fmt.Fprintln(stderr, "transferwatch report: the entity id must be "+event.EntityIDRule)
		return 2
	}
	lang, ok := i18n.ParseLang(*langFlag)
	if !ok {
		fmt.Fprintln(stderr, "transferwatch report: --lang must be en or zh")
		return 2
	}
	cfg, _, err := config.LoadOffline(*configPath, getenv)
	if err != nil {
		printProblems(stderr, *configPath, err)
		return 1
	}
	settings, err := app.PolicySettings(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch report: %v\n", err)
		return 1
	}
	st, err := app.OpenStore(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch report: %v\n", err)
		return 1
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	// Fail closed as the service does (CONTRACT §8): no pack from figures
	// the store may have lost.
	admin, err := app.NewAdmin(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch report: %v\n", err)
		return 1
	}
	audit, err := admin.Audit(ctx, st)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch report: cannot check that the store holds every committed event, so no pack is written: %v\n", err)
		return 1
	}
	for _, a := range audit {
		if a.Behind() {
			fmt.Fprintf(stderr, "transferwatch report: the store lacks events the consumer group committed (partition %d), so its figures are not written as evidence; see transferwatch store status --config %s\n", a.Partition, *configPath)
			return 1
		}
	}
	d, err := dossier.New(st, dossier.Options{
		Settings: settings, Entities: app.Registry(cfg), Fingerprint: cfg.Fingerprint(),
	}).Build(ctx, *id)
	if err != nil {
		if errors.Is(err, dossier.ErrUnknownEntity) {
			fmt.Fprintf(stderr, "transferwatch report: entity %q is neither configured in %s nor in the store\n", *id, *configPath)
			return 1
		}
		fmt.Fprintf(stderr, "transferwatch report: %v\n", err)
		return 1
	}
	r, err := report.New(nil)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch report: %v\n", err)
		return 1
	}
	names, err := r.WriteDir(*out, d, lang)
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch report: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "evidence pack of %s (%s, decision %s) at %s:\n", d.Entity.ID, d.Status.Policy, d.Status.Decision, d.GeneratedAt.Format(time.RFC3339))
	for _, n := range names {
		fmt.Fprintf(stdout, "  %s\n", filepath.Join(*out, n))
	}
	return 0
}
