// Package console serves the compliance console at /ui/: server-rendered
// pages (html/template, charts as inline SVG drawn here, no JavaScript)
// that show where each entity stands (Entities), everything about one
// entity (Entity: counters, rules, the daily series with its thresholds and
// forecast, approvals on a timeline, flows, decision history) and what to
// prepare for an application (Plan), in English or Simplified Chinese.
//
// The console is embedded in the binary and mounted by package api on the
// service's listener. When the API has a token, the console asks for it
// once in a login form and keeps a session cookie (package webauth) that
// also opens the evidence pack under /v1.
package console

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transferwatch/transferwatch/internal/policy"
	"github.com/transferwatch/transferwatch/internal/webauth"
	"github.com/transferwatch/transferwatch/pkg/decision"
)

// Prefix is the path the console is served under.
const Prefix = "/ui/"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Statuses is the decider's cache of entity statuses.
type Statuses interface {
	Status(id string) (policy.Status, bool)
	Statuses() []policy.Status
	// Verdict answers as the decision endpoint does: an error when the
	// decision is withheld (not evaluated yet, the store unreachable or its
	// integrity in doubt, figures too old).
	Verdict(id string, now time.Time) (decision.Verdict, error)
}

// vouched returns the statuses, those whose decision the decision endpoint
// would withhold now reduced to their id and name (shown as pending, no
// figures: the console never states a decision the pipelines are not
// given), and the first reason one was withheld ("" when none was).
func (c *console) vouched(now time.Time) ([]policy.Status, string) {
	list := c.o.Statuses.Statuses()
	withheld := ""
	for i, s := range list {
		if _, err := c.o.Statuses.Verdict(s.Entity, now); err != nil {
			if withheld == "" {
				withheld = err.Error()
				list = slices.Clone(list) // the caller's slice stays as it was
			}
			list[i] = policy.Status{Entity: s.Entity, Name: s.Name, Policy: s.Policy}
		}
	}
	return list, withheld
}

// Options of the console.
type Options struct {
	Statuses Statuses
	// Dossiers builds the dossier of one entity for the Entity and Plan
	// pages; nil: those pages show only what the statuses hold.
	Dossiers Dossiers
	// Guard checks the API token; nil or without a token: open.
	Guard *webauth.Guard
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Log receives the errors of page rendering; nil: discarded.
	Log *slog.Logger
}

// console is the handler.
type console struct {
	o     Options
	tries throttle // failed logins per client address
	pages map[string]*template.Template
	cat   *catalog
	mux   *http.ServeMux
}

// Handler returns the console's handler, to be mounted at Prefix.
func Handler(o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	c := &console{o: o, pages: parsePages(), cat: newCatalog(), mux: http.NewServeMux()}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.StripPrefix(Prefix+"static/", http.FileServerFS(static))
	c.mux.Handle("GET "+Prefix+"static/", cacheable(files))
	c.mux.HandleFunc("GET "+Prefix+"login", c.loginForm)
	c.mux.HandleFunc("POST "+Prefix+"login", c.login)
	c.mux.HandleFunc("POST "+Prefix+"logout", c.logout)
	c.mux.Handle("GET "+Prefix+"{$}", c.guarded(c.entitiesPage))
	c.mux.Handle("GET "+Prefix+"entities/{id}", c.guarded(c.entityPage))
	c.mux.Handle("GET "+Prefix+"plan", c.guarded(c.planPage))
	c.mux.Handle(Prefix, c.guarded(func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "error", errorPage{Message: r.URL.Path})
	}))
	return securityHeaders(c.mux)
}

// securityHeaders sets what every console answer carries: no framing, no
// script or style from elsewhere, no sniffing, no referrer leaving.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

func cacheable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// guarded sends a request without the token to the login form, with the
// page it asked for to come back to.
func (c *console) guarded(f http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.o.Guard.Allowed(r) {
			http.Redirect(w, r, Prefix+"login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		f(w, r)
	})
}

// loginPage is the data of the login form.
type loginPage struct {
	Next  string
	Wrong bool
}

func (c *console) loginForm(w http.ResponseWriter, r *http.Request) {
	if !c.o.Guard.Enabled() {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	c.render(w, r, http.StatusOK, "login", loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

// maxLoginBody bounds the login form's body.
const maxLoginBody = 8 << 10

func (c *console) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	w.Header().Set("Cache-Control", "no-store")
	now := c.o.Now()
	if wait := c.tries.blocked(r, now); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		http.Error(w, "too many wrong tokens from this address: try again later", http.StatusTooManyRequests)
		return
	}
	if !c.o.Guard.CheckToken(r.PostForm.Get("token")) {
		c.tries.fail(r, now)
		c.o.Log.Warn("console: wrong token at login", "client", key(r))
		c.render(w, r, http.StatusUnauthorized, "login", loginPage{Next: next, Wrong: true})
		return
	}
	c.o.Guard.SetSession(w, r)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *console) logout(w http.ResponseWriter, r *http.Request) {
	// Another site's page may not log the officer out (a form posted
	// across sites); browsers say where a request comes from.
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		http.Error(w, "logout from another site refused", http.StatusForbidden)
		return
	}
	webauth.ClearSession(w, r)
	http.Redirect(w, r, Prefix+"login", http.StatusSeeOther)
}

// safeNext returns next when it is a path of this service's console or API
// (never another site: "//host" and "/\host" are refused), else the
// console's first page.
func safeNext(next string) string {
	if (strings.HasPrefix(next, Prefix) || strings.HasPrefix(next, "/v1/")) &&
		!strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return Prefix
}

// page is what every template gets: the page's own data and what the
// layout needs.
type page struct {
	Lang    lang
	cat     *catalog
	Title   string
	Nav     string // which navigation entry is the current page
	Path    string // the request path and query, for the language switch
	Query   url.Values
	Now     time.Time
	Secured bool // a token protects the console: show the logout button
	Data    any
}

// T returns the label of key in the page's language.
func (p page) T(key string) string { return p.cat.T(p.Lang, key) }

// render executes the named page template into a buffer first, so that a
// template error gives a clean 500 and not half a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	l, chosen := langOf(r)
	if chosen {
		http.SetCookie(w, &http.Cookie{Name: langCookie, Value: string(l), Path: Prefix,
			MaxAge: 365 * 24 * 3600, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil, HttpOnly: true})
	}
	p := page{Lang: l, cat: c.cat, Nav: name, Path: r.URL.Path, Query: r.URL.Query(), Now: c.o.Now(), Secured: c.o.Guard.Enabled(), Data: data}
	p.Title = p.T("page." + name)
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.o.Log.Error("console: rendering a page", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// langCookie keeps the language a browser chose.
const langCookie = "tw_lang"

// langOf returns the language of the request: ?lang= (chosen: to be
// remembered in a cookie), else the cookie, else English.
func langOf(r *http.Request) (l lang, chosen bool) {
	if q := r.URL.Query().Get("lang"); q != "" {
		if l, ok := parseLang(q); ok {
			return l, true
		}
	}
	if ck, err := r.Cookie(langCookie); err == nil {
		if l, ok := parseLang(ck.Value); ok {
			return l, false
		}
	}
	return langEN, false
}

// errorPage is the data of the error page.
type errorPage struct {
	Message string
	// Withheld, when set, is why the page's decision is withheld (the
	// page answers 503); Message is then unused.
	Withheld string
}

// requestLang is the language of r.
func requestLang(r *http.Request) lang {
	l, _ := langOf(r)
	return l
}
