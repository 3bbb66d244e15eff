package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/transferwatch/transferwatch/internal/app"
	"github.com/transferwatch/transferwatch/internal/config"
	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/sketch"
	"github.com/transferwatch/transferwatch/pkg/event"
)

const entityUsage = `Usage: transferwatch entity ID [--url URL | --config FILE] [--json]

One entity's status: its decision and reasons, every counter, every rule against its
threshold, its approvals.

Flags:
  --url URL       ask the HTTP API of a running service (default http://localhost:8080);
                  the bearer token, if the API wants one, is read from TW_API_TOKEN
  --config FILE   no service needed: read the figures straight from the store (Redis) of
                  this configuration and evaluate them with its policy, as the service does
                  (no subject key needed)
  --json          print the status as JSON (the API's EntityStatus), for scripts
  --timeout D     give up after D (default 10s)

Exit status: 0; 1 when the entity is neither configured nor seen, or the service or the
store cannot be read; 2 on a usage error.
`

// errUnknownEntity is an entity neither configured nor seen.
var errUnknownEntity = errors.New("neither configured nor seen")

// entityCmd runs `transferwatch entity ID`.
func entityCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := newFlagSet("entity", stderr)
	apiURL := fs.String("url", "http://localhost:8080", "the service's HTTP API")
	configPath := fs.String("config", "", "read the store of this configuration instead of the API")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	urlSet := false
	fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" })
	switch {
	case len(pos) != 1:
		fmt.Fprintln(stderr, "transferwatch entity: give one entity ID")
		fs.Usage()
		return 2
	case !event.ValidEntityID(pos[0]):
		fmt.Fprintln(stderr, "transferwatch entity: an entity ID is "+event.EntityIDRule)
		return 2
	case urlSet && *configPath != "":
		fmt.Fprintln(stderr, "transferwatch entity: --url or --config, not both")
		return 2
	}
	id := pos[0]
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	var body []byte
	var src string
	var recorded string
	if *configPath != "" {
		body, src, recorded, err = entityFromStore(ctx, *configPath, id, getenv)
	} else {
		body, src, err = entityFromAPI(ctx, *apiURL, id, getenv("TW_API_TOKEN"))
	}
	if err != nil {
		fmt.Fprintf(stderr, "transferwatch entity %s: %v\n", id, err)
		return 1
	}
	if *asJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, body, "", "  "); err != nil {
			fmt.Fprintf(stderr, "transferwatch entity %s: the answer is not JSON: %v\n", id, err)
			return 1
		}
		out.WriteByte('\n')
		_, _ = stdout.Write(out.Bytes())
		return 0
	}
	var st entityStatus
	if err := json.Unmarshal(body, &st); err != nil {
		fmt.Fprintf(stderr, "transferwatch entity %s: the answer is not an EntityStatus: %v\n", id, err)
		return 1
	}
	printEntity(stdout, st, src, recorded)
	return 0
}

// entityFromAPI returns the EntityStatus of id from GET /v1/entities/{id} of the service at
// base.
func entityFromAPI(ctx context.Context, base, id, token string) (body []byte, src string, err error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", fmt.Errorf("--url %q: want http://host:port or https://host:port", base)
	}
	u = u.JoinPath("v1", "entities", id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, "", fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode == http.StatusOK {
		return body, u.String(), nil
	}
	var apiErr struct {
		Error string `json:"error"`
	}
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &apiErr) == nil && apiErr.Error != "" {
		msg = apiErr.Error
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, "", fmt.Errorf("%w (GET %s: %s)", errUnknownEntity, u, msg)
	case http.StatusUnauthorized:
		if token == "" {
			return nil, "", fmt.Errorf("GET %s: the API wants a bearer token: set TW_API_TOKEN", u)
		}
		return nil, "", fmt.Errorf("GET %s: the API refused the token of TW_API_TOKEN", u)
	}
	return nil, "", fmt.Errorf("GET %s: %s: %s", u, resp.Status, msg)
}

// entityFromStore evaluates id from the store of the configuration at path, as the service's
// decider does, and returns its EntityStatus and the decision last recorded for it.
func entityFromStore(ctx context.Context, path, id string, getenv func(string) string) (body []byte, src, recorded string, err error) {
	cfg, _, err := config.LoadOffline(path, getenv)
	if err != nil {
		return nil, "", "", fmt.Errorf("%s: %w", path, err)
	}
	settings, err := app.PolicySettings(cfg)
	if err != nil {
		return nil, "", "", err
	}
	st, err := app.OpenStore(cfg)
	if err != nil {
		return nil, "", "", err
	}
	defer st.Close()
	entity, configured := policy.Entity{ID: id}, false
	for _, e := range app.Registry(cfg) {
		if e.ID == id {
			entity, configured = e, true
		}
	}
	if !configured {
		seen, err := st.Entities(ctx)
		if err != nil {
			return nil, "", "", fmt.Errorf("read the store: %w", err)
		}
		if !slices.Contains(seen, id) {
			return nil, "", "", fmt.Errorf("%w (in %s and in the store)", errUnknownEntity, path)
		}
	}
	now := time.Now()
	thisYear, today := sketch.DayOf(now, settings.Location)
	hist, err := st.History(ctx, id, thisYear-1, thisYear)
	if err != nil {
		return nil, "", "", fmt.Errorf("read the store: %w", err)
	}
	status := policy.Evaluate(settings, entity, policy.Observe(settings, entity, hist, thisYear, today, nil), now)
	if body, err = json.Marshal(status); err != nil {
		return nil, "", "", err
	}
	if d, err := st.Decision(ctx, id); err == nil && d.Version > 0 {
		recorded = fmt.Sprintf("%s, version %d (the last decision published)", d.Decision, d.Version)
	}
	src = fmt.Sprintf("store %s (prefix %s), evaluated now with the policy of %s", strings.Join(cfg.Redis.Addrs, ","), cfg.Redis.KeyPrefix, path)
	return body, src, recorded, nil
}

// entityStatus is the part of the API's EntityStatus the table shows.
type entityStatus struct {
	Entity            string   `json:"entity"`
	Name              string   `json:"name"`
	CIIO              bool     `json:"ciio"`
	Policy            string   `json:"policy"`
	Decision          string   `json:"decision"`
	RequiredMechanism string   `json:"required_mechanism"`
	Reasons           []string `json:"reasons"`
	Counters          []struct {
		Counter     string `json:"counter"`
		Window      string `json:"window"`
		WindowStart string `json:"window_start"`
		Estimate    uint64 `json:"estimate"`
		UpperBound  uint64 `json:"upper_bound"`
	} `json:"counters"`
	Rules []struct {
		ID               string  `json:"id"`
		Counter          string  `json:"counter"`
		Window           string  `json:"window"`
		Threshold        uint64  `json:"threshold"`
		Estimate         uint64  `json:"estimate"`
		UpperBound       uint64  `json:"upper_bound"`
		Ratio            float64 `json:"ratio"`
		Level            string  `json:"level"`
		Mechanism        string  `json:"mechanism"`
		Covered          bool    `json:"covered"`
		ForecastCrossing *string `json:"forecast_crossing"`
	} `json:"rules"`
	Approvals []struct {
		Mechanism  string  `json:"mechanism"`
		Status     string  `json:"status"`
		Reference  string  `json:"reference"`
		ValidUntil *string `json:"valid_until"`
		DaysLeft   *int    `json:"days_left"`
	} `json:"approvals"`
	UpdatedAt string `json:"updated_at"`
}

// printEntity prints st as a readable table.
func printEntity(w io.Writer, st entityStatus, src, recorded string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	name := st.Entity
	if st.Name != "" {
		name += " — " + st.Name
	}
	if st.CIIO {
		name += " [CIIO]"
	}
	decision := strings.ToUpper(st.Decision)
	if st.RequiredMechanism != "" && st.RequiredMechanism != "none" {
		decision += ", requires " + st.RequiredMechanism
	}
	fmt.Fprintf(tw, "entity\t%s\n", name)
	fmt.Fprintf(tw, "decision\t%s\n", decision)
	if recorded != "" {
		fmt.Fprintf(tw, "recorded\t%s\n", recorded)
	}
	fmt.Fprintf(tw, "policy\t%s\n", st.Policy)
	fmt.Fprintf(tw, "updated\t%s\n", st.UpdatedAt)
	fmt.Fprintf(tw, "source\t%s\n", src)
	tw.Flush()
	if len(st.Reasons) > 0 {
		fmt.Fprintln(w, "reasons:")
		for _, r := range st.Reasons {
			fmt.Fprintf(w, "  - %s\n", r)
		}
	}

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COUNTER\tWINDOW\tSINCE\tESTIMATE\tUPPER BOUND")
	for _, c := range st.Counters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", c.Counter, c.Window, c.WindowStart, c.Estimate, c.UpperBound)
	}
	tw.Flush()

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tLEVEL\tESTIMATE\tUPPER BOUND\tTHRESHOLD\tRATIO\tREQUIRES\tCOVERED\tFORECAST CROSSING")
	for _, r := range st.Rules {
		covered, forecast := "no", "-"
		if r.Covered {
			covered = "yes"
		}
		if r.ForecastCrossing != nil {
			forecast = *r.ForecastCrossing
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.3f\t%s\t%s\t%s\n",
			r.ID, r.Level, r.Estimate, r.UpperBound, r.Threshold, r.Ratio, r.Mechanism, covered, forecast)
	}
	tw.Flush()

	fmt.Fprintln(w)
	if len(st.Approvals) == 0 {
		fmt.Fprintln(w, "no approvals")
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "APPROVAL\tMECHANISM\tSTATUS\tVALID UNTIL\tDAYS LEFT")
	for _, a := range st.Approvals {
		until, left := "-", "-"
		if a.ValidUntil != nil {
			until = *a.ValidUntil
		}
		if a.DaysLeft != nil {
			left = fmt.Sprint(*a.DaysLeft)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Reference, a.Mechanism, a.Status, until, left)
	}
	tw.Flush()
}
