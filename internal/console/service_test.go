package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/internal/store/memstore"
	"github.com/transferwatch/transferwatch/internal/store/storetest"
	"github.com/transferwatch/transferwatch/internal/testutil/kafkatest"
	"github.com/transferwatch/transferwatch/internal/testutil/poll"
	"github.com/transferwatch/transferwatch/pkg/event"
)

// testToken is the API token of the test service.
const testToken = "console-test-token-0123456789"

// service is a running transferwatch: the real app (decider, HTTP API,
// console) on an in-process Kafka-protocol cluster and a memstore holding
// sketches merged as the ingest path merges them.
type service struct {
	base string
}

// entityFill is how many new people an entity sends a day, from 1 January
// to today, and to whom.
type entityFill struct {
	id, recipient, destination string
	perDay                     int
	sensitive                  bool
}

// startService starts the service with the token, three configured
// entities and their sketches, and returns once every entity is evaluated.
func startService(t *testing.T) *service {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(loc)
	day := func(d int) string { return now.AddDate(0, 0, d).Format("2006-01-02") }
	yaml := fmt.Sprintf(`
kafka:
  brokers: [placeholder:9092]
entities:
  - id: acme-sh
    name: Acme (Shanghai) Co., Ltd.
  - id: lotus-sz
    name: Lotus Travel (Shenzhen) Co., Ltd.
    approvals:
      - mechanism: security_assessment
        status: approved
        reference: CAC-TEST-0311
        valid_from: %s
        valid_until: %s
  - id: kangning-hz
    name: 康宁健康（杭州）有限公司
`, day(-600), day(90))
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	c := kafkatest.New(t, 1, cfg.Kafka.Topic, cfg.Kafka.DeadLetterTopic, cfg.Kafka.DecisionsTopic)
	cfg.Kafka.Brokers = []string{c.Addr()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Resolve(); err != nil {
		t.Fatal(err)
	}
	cfg.HasSubjectKey = true
	cfg.APIToken = testToken

	st := memstore.New()
	year, today := sketch.DayOf(now, loc)
	n := 0
	for _, f := range []entityFill{
		{"acme-sh", "acme-inc-us", "US", 280, false},
		{"lotus-sz", "lotus-hotels-jp", "JP", 60, false},
		{"kangning-hz", "kangning-lab-de", "DE", 29, true},
	} {
		b := sketch.Batch{}
		cell := sketch.CellOf(event.KindTransfer, f.sensitive, false)
		cat := sketch.CategoryPersonal
		if f.sensitive {
			cat = sketch.CategorySensitive
		}
		for d := 0; d <= today; d++ {
			hashes := make([]uint64, f.perDay)
			for i := range hashes {
				hashes[i] = storetest.Hash(n)
				n++
			}
			b.Add(f.id, year, d, cell, false, hashes)
			at := time.Date(year, 1, 1+d, 12, 0, 0, 0, loc).Unix()
			b.AddFlow(f.id, year, sketch.FlowKey{Recipient: f.recipient, Destination: f.destination, Category: cat}, uint64(d), at, "pipeline-"+f.id, hashes)
		}
		if err := st.Merge(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, app.Options{
			Config: cfg, Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(),
			Store: st, Listener: ln, ShutdownTimeout: 5 * time.Second,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app: %v", err)
		}
	})
	s := &service{base: "http://" + ln.Addr().String()}
	poll.Until(t, 60*time.Second, "every entity evaluated", func() bool {
		var body struct {
			Entities []apiStatus `json:"entities"`
		}
		if s.get("/v1/entities", &body) != nil || len(body.Entities) != 3 {
			return false
		}
		for _, e := range body.Entities {
			if !e.Evaluated || len(e.Counters) == 0 || e.Counters[0].Estimate == 0 {
				return false
			}
		}
		return true
	})
	return s
}

// apiStatus is the part of an EntityStatus the tests compare.
type apiStatus struct {
	Entity    string  `json:"entity"`
	Decision  *string `json:"decision"`
	Evaluated bool    `json:"evaluated"`
	Counters  []struct {
		Counter    string `json:"counter"`
		Window     string `json:"window"`
		Estimate   uint64 `json:"estimate"`
		UpperBound uint64 `json:"upper_bound"`
	} `json:"counters"`
	Rules []struct {
		ID    string `json:"id"`
		Level string `json:"level"`
	} `json:"rules"`
}

// get reads the API with the bearer token into v.
func (s *service) get(path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
