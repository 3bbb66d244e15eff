package webauth_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transferwatch/transferwatch/internal/webauth"
)

func TestGuard(t *testing.T) {
	g := webauth.New("s3cret-token")
	session := httptest.NewRecorder()
	g.SetSession(session, httptest.NewRequest("POST", "/ui/login", nil))
	cookies := session.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies = %v", cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Name != webauth.CookieName {
		t.Errorf("cookie attributes = %+v", c)
	}
	if strings.Contains(c.Value, "s3cret") {
		t.Errorf("the cookie holds the token: %q", c.Value)
	}
	other := httptest.NewRecorder()
	webauth.New("another-token").SetSession(other, httptest.NewRequest("POST", "/", nil))

	for _, tc := range []struct {
		name string
		set  func(r *http.Request)
		want bool
	}{
		{"nothing", func(*http.Request) {}, false},
		{"bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-token") }, true},
		{"wrong bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret-tokeN") }, false},
		{"token as cookie", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: webauth.CookieName, Value: "s3cret-token"}) }, false},
		{"session cookie", func(r *http.Request) { r.AddCookie(c) }, true},
		{"another token's cookie", func(r *http.Request) { r.AddCookie(other.Result().Cookies()[0]) }, false},
		// A wrong header is not rescued by a right cookie.
		{"wrong bearer and cookie", func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer x")
			r.AddCookie(c)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/entities", nil)
			tc.set(r)
			if got := g.Allowed(r); got != tc.want {
				t.Errorf("Allowed = %v, want %v", got, tc.want)
			}
		})
	}
	if !g.CheckToken("s3cret-token") || g.CheckToken("s3cret") || g.CheckToken("") {
		t.Error("CheckToken accepts a wrong token or refuses the right one")
	}
	// A session expires SessionMaxAge after the login; a forged time is
	// refused (the MAC covers it).
	later := webauth.New("s3cret-token")
	issued := time.Now()
	later.Now = func() time.Time { return issued.Add(webauth.SessionMaxAge - time.Minute) }
	withCookie := func(v string) *http.Request {
		r := httptest.NewRequest("GET", "/v1/entities", nil)
		r.AddCookie(&http.Cookie{Name: webauth.CookieName, Value: v})
		return r
	}
	if !later.Allowed(withCookie(c.Value)) {
		t.Error("a session is refused before SessionMaxAge")
	}
	later.Now = func() time.Time { return issued.Add(webauth.SessionMaxAge + time.Minute) }
	if later.Allowed(withCookie(c.Value)) {
		t.Error("a session is accepted after SessionMaxAge")
	}
	_, mac, _ := strings.Cut(c.Value, ".")
	forged := strconv.FormatInt(issued.Add(webauth.SessionMaxAge).Unix(), 10) + "." + mac
	if later.Allowed(withCookie(forged)) {
		t.Error("a session with a forged issue time is accepted")
	}
	if c.MaxAge != int(webauth.SessionMaxAge/time.Second) {
		t.Errorf("cookie Max-Age = %d, want %v", c.MaxAge, webauth.SessionMaxAge)
	}

	open := webauth.New("")
	if open.Enabled() || !open.Allowed(httptest.NewRequest("GET", "/", nil)) || !open.CheckToken("x") {
		t.Error("a guard without a token refuses")
	}
}
