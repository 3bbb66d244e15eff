// Package webauth checks the API token of transferwatch's HTTP interface
// (http.token_file) on a request: as "Authorization: Bearer <token>", as
// programs send it, or as the console's session cookie, which a browser
// gets from the console's login form (browsers cannot send a bearer header
// by themselves). The cookie holds the time it was issued and an
// HMAC-SHA256 of that time under the token, never the token; it is
// HttpOnly and SameSite=Strict, compared in constant time, and refused
// SessionMaxAge after it was issued, so a copied cookie stops working
// without the token being changed.
package webauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CookieName is the name of the console's session cookie.
const CookieName = "tw_session"

// cookieLabel is what the token signs, with the issue time, to make the
// cookie's value; changing it logs every browser out.
const cookieLabel = "transferwatch console session v2"

// SessionMaxAge is how long a session cookie is accepted after the login
// that issued it.
const SessionMaxAge = 12 * time.Hour

// Guard checks a request's credentials against the token. The zero or nil
// Guard, and one made from an empty token, lets every request through.
type Guard struct {
	bearer []byte // "Bearer <token>"
	token  []byte
	// Now is the clock of the sessions; nil: time.Now.
	Now func() time.Time
}

// New returns the guard of token ("" means no token required).
func New(token string) *Guard {
	if token == "" {
		return &Guard{}
	}
	return &Guard{bearer: []byte("Bearer " + token), token: []byte(token)}
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// session returns the cookie value of a session issued at unix second at:
// "<at>.<hex HMAC of cookieLabel and at under the token>".
func (g *Guard) session(at int64) string {
	mac := hmac.New(sha256.New, g.token)
	mac.Write([]byte(cookieLabel))
	mac.Write([]byte{0})
	mac.Write([]byte(strconv.FormatInt(at, 10)))
	return strconv.FormatInt(at, 10) + "." + hex.EncodeToString(mac.Sum(nil))
}

// validSession reports whether v is a session this token issued less than
// SessionMaxAge ago (and not in the future, beyond a minute of clock skew).
func (g *Guard) validSession(v string) bool {
	s, _, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	at, err := strconv.ParseInt(s, 10, 64)
	if err != nil || !equal(v, []byte(g.session(at))) {
		return false
	}
	age := g.now().Sub(time.Unix(at, 0))
	return age < SessionMaxAge && age > -time.Minute
}

// Enabled reports whether a token is required.
func (g *Guard) Enabled() bool { return g != nil && len(g.token) > 0 }

// Allowed reports whether r carries the token as a bearer header or the
// session cookie (always true when no token is required).
func (g *Guard) Allowed(r *http.Request) bool {
	if !g.Enabled() {
		return true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		return equal(h, g.bearer)
	}
	c, err := r.Cookie(CookieName)
	if err != nil {
		return false
	}
	return g.validSession(c.Value)
}

// equal compares the SHA-256 digests of candidate and want in constant
// time, so that neither the content nor the length of want shows in the
// time taken (ConstantTimeCompare returns at once on unequal lengths).
func equal(candidate string, want []byte) bool {
	a, b := sha256.Sum256([]byte(candidate)), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// CheckToken reports, in constant time, whether candidate is the token.
func (g *Guard) CheckToken(candidate string) bool {
	if !g.Enabled() {
		return true
	}
	return equal(candidate, g.token)
}

// SetSession gives the browser of r the session cookie: for the whole site
// (the console and the evidence pack under /v1), HttpOnly, SameSite=Strict,
// Secure when r came over TLS, for SessionMaxAge.
func (g *Guard) SetSession(w http.ResponseWriter, r *http.Request) {
	if !g.Enabled() {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    g.session(g.now().Unix()),
		Path:     "/",
		MaxAge:   int(SessionMaxAge / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
}

// ClearSession removes the session cookie.
func ClearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}
