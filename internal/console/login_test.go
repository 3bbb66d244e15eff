package console

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/webauth"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

type noStatuses struct{}

func (noStatuses) Status(string) (policy.Status, bool) { return policy.Status{}, false }
func (noStatuses) Statuses() []policy.Status           { return nil }
func (noStatuses) Verdict(string, time.Time) (decision.Verdict, error) {
	return decision.Verdict{}, errors.New("not evaluated")
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/plan":                          "/ui/plan",
		"/ui/entities/a?lang=zh":            "/ui/entities/a?lang=zh",
		"/v1/entities/a/report?format=html": "/v1/entities/a/report?format=html",
		"//evil.example/ui/":                "/ui/",
		"https://evil.example/ui/":          "/ui/",
		"/ui/\\evil":                        "/ui/",
		"/metrics":                          "/ui/",
		"":                                  "/ui/",
		"/ui/\r\nSet-Cookie: x=1":           "/ui/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLogin(t *testing.T) {
	h := Handler(Options{Statuses: noStatuses{}, Guard: webauth.New("tok")})
	post := func(token, next string) *httptest.ResponseRecorder {
		form := url.Values{"token": {token}, "next": {next}}
		r := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := post("wrong", "/ui/plan")
	if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
		t.Errorf("wrong token: %d, cookies %v", w.Code, w.Result().Cookies())
	}
	w = post("tok", "//evil.example/")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/" || len(w.Result().Cookies()) != 1 {
		t.Errorf("right token: %d to %q, cookies %v", w.Code, w.Header().Get("Location"), w.Result().Cookies())
	}
	// Without the cookie every page sends to the login form.
	r := httptest.NewRequest(http.MethodGet, "/ui/plan?lang=zh", nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login?next="+url.QueryEscape("/ui/plan?lang=zh") {
		t.Errorf("no cookie: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
}

// TestLogoutFromAnotherSite: a logout posted by another site's page is
// refused; one from the console's own page clears the session.
func TestLogoutFromAnotherSite(t *testing.T) {
	h := Handler(Options{Statuses: noStatuses{}, Guard: webauth.New("tok")})
	for site, want := range map[string]int{"cross-site": http.StatusForbidden, "same-site": http.StatusForbidden,
		"same-origin": http.StatusSeeOther, "": http.StatusSeeOther} {
		r := httptest.NewRequest(http.MethodPost, "/ui/logout", nil)
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("logout with Sec-Fetch-Site %q = %d, want %d", site, rec.Code, want)
		}
		cleared := strings.Contains(rec.Header().Get("Set-Cookie"), webauth.CookieName+"=;")
		if cleared != (want == http.StatusSeeOther) {
			t.Errorf("logout with Sec-Fetch-Site %q: session cleared %t", site, cleared)
		}
	}
}

// TestLoginThrottled: after maxLoginFailures wrong tokens from one address
// within loginWindow, that address is answered 429 with Retry-After, even
// with the right token, until the window ends; another address is not.
func TestLoginThrottled(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	h := Handler(Options{Statuses: noStatuses{}, Guard: webauth.New("tok"), Now: func() time.Time { return now }})
	post := func(addr, token string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/ui/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = addr
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range maxLoginFailures {
		if w := post("192.0.2.1:1000", "wrong"); w.Code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d, want 401", i+1, w.Code)
		}
	}
	w := post("192.0.2.1:1001", "tok")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "61" {
		t.Errorf("after %d failures: %d, Retry-After %q; want 429, 61", maxLoginFailures, w.Code, w.Header().Get("Retry-After"))
	}
	if w := post("198.51.100.7:1000", "tok"); w.Code != http.StatusSeeOther {
		t.Errorf("another address: %d, want 303", w.Code)
	}
	now = now.Add(loginWindow)
	if w := post("192.0.2.1:1002", "tok"); w.Code != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", w.Code)
	}
}
