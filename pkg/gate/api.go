package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/transferwatch/transferwatch/pkg/event"
)

// DefaultPollInterval is the PollInterval used when the options leave it
// zero.
const DefaultPollInterval = 10 * time.Second

const (
	maxListBytes     = 64 << 20 // GET /v1/entities
	maxDecisionBytes = 1 << 20  // GET /v1/entities/{id}/decision
)

// APIOptions configure a gate that polls transferwatch's HTTP API.
type APIOptions struct {
	// BaseURL is where the API is served, such as
	// "https://transferwatch.internal:8080"; a path prefix is kept.
	BaseURL string
	// Token, when set, is sent as "Authorization: Bearer <token>".
	Token string
	// HTTPClient sends the requests; default a client with a 10s timeout.
	HTTPClient *http.Client
	// Entities, when set, are polled one by one through
	// GET /v1/entities/{id}/decision, and the gate refuses any other
	// entity (ErrNotFollowed). When empty, the gate polls GET /v1/entities
	// and answers allow for an entity the list lacks, as transferwatch
	// does.
	Entities []string
	// PollInterval is the time between the end of a poll and the start of
	// the next; default DefaultPollInterval.
	PollInterval time.Duration
	// MaxStaleness is how old the cache may grow before the gate fails
	// closed; default DefaultMaxStaleness. It must exceed PollInterval.
	MaxStaleness time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives failed polls; default discards.
	Logger *slog.Logger
}

// NewFromAPI returns a gate that polls the HTTP API once Run starts.
func NewFromAPI(o APIOptions) (*Gate, error) {
	c, err := newCommon(o.MaxStaleness, o.Now, o.Logger)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(o.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, errorf("BaseURL must be an absolute http or https URL, is %q", o.BaseURL)
	}
	if strings.ContainsAny(o.Token, "\r\n") {
		return nil, errorf("Token must be one line")
	}
	if o.PollInterval < 0 {
		return nil, errorf("PollInterval must not be negative, is %s", o.PollInterval)
	}
	if o.PollInterval == 0 {
		o.PollInterval = DefaultPollInterval
	}
	if c.maxStale <= o.PollInterval {
		return nil, errorf("MaxStaleness (%s) must exceed PollInterval (%s)", c.maxStale, o.PollInterval)
	}
	for _, id := range o.Entities {
		if !event.ValidEntityID(id) {
			return nil, errorf("Entities: %q is not %s", id, event.EntityIDRule)
		}
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: requestTimeout}
	}
	g := newGate(c, len(o.Entities) == 0)
	p := &poller{
		g:        g,
		base:     strings.TrimSuffix(base.String(), "/"),
		token:    o.Token,
		client:   o.HTTPClient,
		entities: append([]string(nil), o.Entities...),
		interval: o.PollInterval,
	}
	g.loop = p.run
	return g, nil
}

// poller polls the API into the gate.
type poller struct {
	g        *Gate
	base     string
	token    string
	client   *http.Client
	entities []string
	interval time.Duration
}

func (p *poller) run(ctx context.Context) error {
	failing := false
	for {
		err := p.poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !failing:
			failing = true
			p.g.log.Warn("transferwatch API poll failed; the gate keeps its cache and ages", "err", err)
		case err != nil:
			p.g.log.Debug("transferwatch API poll failed", "err", err)
		case failing:
			failing = false
			p.g.log.Info("transferwatch API poll works again")
		}
		if !sleep(ctx, p.interval) {
			return nil
		}
	}
}

// poll reads the decisions once. The cache is complete as of the start of
// the poll when every request of it succeeded.
func (p *poller) poll(ctx context.Context) error {
	start := p.g.now()
	if len(p.entities) == 0 {
		body, err := p.get(ctx, "/v1/entities", maxListBytes)
		if err == nil {
			var entries map[string]Answer
			if entries, err = decodeEntities(body); err == nil {
				p.g.update(func(map[string]Answer) (map[string]Answer, time.Time) { return entries, start })
				return nil
			}
			err = fmt.Errorf("GET /v1/entities: %w", err)
		}
		return err
	}

	answers := make([]Answer, 0, len(p.entities))
	var errs []error
	for _, id := range p.entities {
		path := "/v1/entities/" + url.PathEscape(id) + "/decision"
		body, err := p.get(ctx, path, maxDecisionBytes)
		if err == nil {
			var a Answer
			if a, err = decodeVerdict(body, id); err == nil {
				answers = append(answers, a)
				continue
			}
			err = fmt.Errorf("GET %s: %w", path, err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, err)
	}
	p.g.update(func(cur map[string]Answer) (map[string]Answer, time.Time) {
		next := cloneWith(cur, len(answers))
		for _, a := range answers {
			next[a.Entity] = a
		}
		if len(errs) > 0 {
			return next, p.g.asOf() // newer answers, but not complete
		}
		return next, start
	})
	return errors.Join(errs...)
}

// get returns the body of a 200 answer to GET path.
func (p *poller) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, snippet(body))
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: answer larger than %d bytes", path, limit)
	}
	return body, nil
}

// snippet returns the start of an error body for a log line.
func snippet(b []byte) string {
	const n = 200
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
