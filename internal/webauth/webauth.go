// Package webauth checks the API token of transferwatch's HTTP interface
// (http.token_file) on a request: as "Authorization: Bearer <token>", as
// programs send it, or as the console's session cookie, which a browser
// gets from the console's login form (browsers cannot send a bearer header
// by themselves). The cookie holds an HMAC-SHA256 of the token, never the
// token, is HttpOnly and SameSite=Strict, and is compared in constant time.
package webauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
)

// CookieName is the name of the console's session cookie.
const CookieName = "tw_session"

// cookieLabel is what the token signs to make the cookie's value; changing
// it logs every browser out.
const cookieLabel = "transferwatch console session v1"

// Guard checks a request's credentials against the token. The zero or nil
// Guard, and one made from an empty token, lets every request through.
type Guard struct {
	bearer []byte // "Bearer <token>"
	token  []byte
	cookie []byte // hex HMAC of cookieLabel under the token
}

// New returns the guard of token ("" means no token required).
func New(token string) *Guard {
	if token == "" {
		return &Guard{}
	}
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte(cookieLabel))
	return &Guard{
		bearer: []byte("Bearer " + token),
		token:  []byte(token),
		cookie: []byte(hex.EncodeToString(mac.Sum(nil))),
	}
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
	return equal(c.Value, g.cookie)
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
// Secure when r came over TLS, and ending with the browser session.
func (g *Guard) SetSession(w http.ResponseWriter, r *http.Request) {
	if !g.Enabled() {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    string(g.cookie),
		Path:     "/",
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
