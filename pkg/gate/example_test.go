package gate_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/transferwatch/transferwatch/pkg/gate"
)

// A pipeline asks the gate before it sends each record, and holds the
// record back when the answer is no: the entity is blocked, or the gate
// cannot vouch for its cache.
func ExampleGate() {
	// A test double of transferwatch's API, so that the example runs.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"entities":[
			{"entity":"acme-sh","policy":"cac-2024","decision":"block","required_mechanism":"security_assessment",
			 "reasons":["personal-100k breached: 100412 >= 100000 since 2025-01-01"]},
			{"entity":"beta-bj","policy":"cac-2024","decision":"warn","required_mechanism":"none","reasons":[]}]}`)
	}))
	defer api.Close()

	g, err := gate.NewFromAPI(gate.APIOptions{
		BaseURL:      api.URL,
		Token:        "", // the contents of transferwatch's api.token_file, when set
		PollInterval: 10 * time.Second,
		MaxStaleness: 2 * time.Minute,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := g.Wait(wctx); err != nil {
		fmt.Println("gate not synced:", err) // Allowed says no until it is
	}

	for _, entity := range []string{"acme-sh", "beta-bj", "gamma-gz"} {
		a, ok := g.Allowed(entity)
		switch {
		case !ok && a.Err != nil:
			fmt.Printf("hold %s: %v\n", entity, a.Err)
		case !ok:
			fmt.Printf("hold %s: %s until %s (%s)\n", entity, a.Decision, a.RequiredMechanism, a.Reasons[0])
		default:
			fmt.Printf("send %s (%s)\n", entity, a.Decision)
		}
	}
	// gamma-gz is an entity transferwatch never saw: under cac-2024 its
	// first transfer needs nothing yet; under cac-2022 it would be held.

	// Output:
	// hold acme-sh: block until security_assessment (personal-100k breached: 100412 >= 100000 since 2025-01-01)
	// send beta-bj (warn)
	// send gamma-gz (allow)
}

// Following the decisions topic needs no call to the API; the Transport
// carries the cluster's TLS and SASL settings.
func ExampleNewFromTopic() {
	g, err := gate.NewFromTopic(gate.TopicOptions{
		Brokers:      []string{"kafka-1:9093", "kafka-2:9093"},
		Topic:        "transfer-decisions",
		Transport:    &kafka.Transport{TLS: &tls.Config{MinVersion: tls.VersionTLS12}},
		MaxStaleness: 5 * time.Minute,
		Logger:       slog.Default(),
	})
	if err != nil {
		panic(err)
	}
	go func() { _ = g.Run(context.Background()) }() // or an actor of the pipeline's run group

	if a, ok := g.Allowed("acme-sh"); !ok {
		slog.Warn("transfer held back", "entity", a.Entity, "decision", a.Decision, "err", a.Err)
	}
}
