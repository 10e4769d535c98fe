package main

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/local"
)

// TestServeSignInFlags: beyond loopback a server needs --token or
// --oidc-issuer; the OIDC flags go together; one way of signing in.
func TestServeSignInFlags(t *testing.T) {
	oidc := local.OIDCConfig{Issuer: "https://idp.example", Audience: "iris-web"}
	for _, tc := range []struct {
		name string
		c    serveConfig
		want string // "" for ok, else part of the error
	}{
		{"loopback, no sign-in", serveConfig{addr: "127.0.0.1:8080"}, ""},
		{"public without sign-in", serveConfig{addr: "0.0.0.0:8080", public: true}, "--public needs --token or --oidc-issuer"},
		{"public with a token", serveConfig{addr: "0.0.0.0:8080", public: true, token: "s"}, ""},
		{"public with OIDC", serveConfig{addr: "0.0.0.0:8080", public: true, oidc: oidc}, ""},
		{"beyond loopback without --public", serveConfig{addr: "0.0.0.0:8080", oidc: oidc}, "add --public"},
		{"issuer without audience", serveConfig{addr: "127.0.0.1:8080", oidc: local.OIDCConfig{Issuer: "https://idp.example"}}, "needs --oidc-audience"},
		{"audience without issuer", serveConfig{addr: "127.0.0.1:8080", oidc: local.OIDCConfig{Audience: "x"}}, "need --oidc-issuer"},
		{"token and OIDC", serveConfig{addr: "127.0.0.1:8080", token: "s", oidc: oidc}, "choose one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkAddr(tc.c.addr, tc.c.public, tc.c.token+tc.c.oidc.Issuer)
			if err == nil {
				err = checkOIDC(tc.c)
			}
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// TestConnectToLetsTheAppReachTheProvider: the front door's CSP keeps
// connect-src to the page's origin; with --oidc-issuer the provider's
// origin joins it, and nothing else changes.
func TestConnectToLetsTheAppReachTheProvider(t *testing.T) {
	h := guard(connectTo(http.NotFoundHandler(), "https://idp.example:8443/realms/x"), nil, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	want := strings.Replace(securityHeaders["Content-Security-Policy"], "connect-src 'self'", "connect-src 'self' https://idp.example:8443", 1)
	if csp != want || !strings.Contains(csp, "connect-src 'self' https://idp.example:8443 ") {
		t.Fatalf("CSP %q\nwant %q", csp, want)
	}
}
