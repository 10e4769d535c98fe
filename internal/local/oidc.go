package local

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCConfig names an OpenID Connect provider and what `iris serve`
// accepts from it.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL; its discovery document and
	// JWKS are read from there.
	Issuer string
	// Audience is what a token must be for: its aud claim contains it, or
	// its client_id claim equals it (Cognito's access tokens carry
	// client_id and no aud), the rule of API Gateway's JWT authorizer.
	Audience string
	// ClientID is the web app's client at the provider, told to the app
	// in /config.json; empty means Audience.
	ClientID string
	// Scope is what the web app asks for; empty means "openid profile email".
	Scope string
	// Client makes the requests to the provider; nil means one with a
	// 10 s timeout.
	Client *http.Client
	// Now is the clock tokens' expiry is checked against; nil means time.Now.
	Now func() time.Time
}

// OIDC checks bearer tokens against one provider's keys: signature (from
// the provider's JWKS, fetched again when a token names an unknown key),
// issuer, audience, expiry and not-before. The caller's identity is the
// token's sub, exactly as the API Lambda takes it from API Gateway's JWT
// authorizer. Verification is github.com/coreos/go-oidc/v3's; this type
// only adds the audience rule and the web app's config document.
type OIDC struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
}

// ErrNoBearer means the request carried no bearer token.
var ErrNoBearer = errors.New("no bearer token")

// NewOIDC reads the provider's discovery document (its issuer must be
// cfg.Issuer exactly) and returns a checker of its tokens.
func NewOIDC(ctx context.Context, cfg OIDCConfig) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("oidc: an issuer and an audience are both needed")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = cfg.Audience
	}
	if cfg.Scope == "" {
		cfg.Scope = "openid profile email"
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 10 * time.Second}
	}
	// go-oidc fetches the JWKS again for every token it cannot verify
	// with the keys it has, so each forged token would cost the provider
	// a request; at most one a JWKSRefetchEvery reaches it.
	client := *cfg.Client
	client.Transport = &throttledGets{next: cmp.Or[http.RoundTripper](cfg.Client.Transport, http.DefaultTransport), every: JWKSRefetchEvery}
	// The key set keeps the context for its later fetches.
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), &client)
	dctx, cancel := context.WithTimeout(pctx, 30*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discover %s: %w", cfg.Issuer, err)
	}
	v := p.VerifierContext(pctx, &oidc.Config{SkipClientIDCheck: true, Now: cfg.Now})
	return &OIDC{cfg: cfg, verifier: v}, nil
}

// claims are the ones checked besides what go-oidc checks.
type claims struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id"`
}

// Owner is an api.OwnerFunc: the verified token's sub.
func (o *OIDC) Owner(r *http.Request) (string, error) {
	scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return "", ErrNoBearer
	}
	return o.Verify(r.Context(), strings.TrimSpace(raw))
}

// Verify checks a raw JWT and returns its subject.
func (o *OIDC) Verify(ctx context.Context, raw string) (string, error) {
	tok, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return "", fmt.Errorf("token refused: %w", err)
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return "", fmt.Errorf("token refused: %w", err)
	}
	if !slices.Contains(tok.Audience, o.cfg.Audience) && c.ClientID != o.cfg.Audience {
		return "", fmt.Errorf("token refused: it is for %q (client %q), not %q", tok.Audience, c.ClientID, o.cfg.Audience)
	}
	if c.Subject == "" {
		return "", errors.New("token refused: no sub claim")
	}
	return c.Subject, nil
}

// WebConfig is the document the web app reads at /config.json: where the
// API is ("" for the page's own origin) and how to sign in. The stack
// writes the same shape (infra/web.go).
type WebConfig struct {
	APIURL string         `json:"apiUrl"`
	OIDC   *WebOIDCConfig `json:"oidc,omitempty"`
}

// WebOIDCConfig tells the web app its provider. RedirectURI and
// PostLogoutRedirectURI default, in the app, to ORIGIN/auth/callback and
// ORIGIN/; EndSessionEndpoint and LogoutParams serve providers whose
// discovery document names no end_session_endpoint (Cognito).
type WebOIDCConfig struct {
	Authority             string            `json:"authority"`
	ClientID              string            `json:"clientId"`
	Scope                 string            `json:"scope"`
	RedirectURI           string            `json:"redirectUri,omitempty"`
	PostLogoutRedirectURI string            `json:"postLogoutRedirectUri,omitempty"`
	EndSessionEndpoint    string            `json:"endSessionEndpoint,omitempty"`
	LogoutParams          map[string]string `json:"logoutParams,omitempty"`
}

// ConfigHandler serves the web app's /config.json naming this provider.
func (o *OIDC) ConfigHandler() http.Handler {
	return ConfigHandler(WebConfig{OIDC: &WebOIDCConfig{Authority: o.cfg.Issuer, ClientID: o.cfg.ClientID, Scope: o.cfg.Scope}})
}

// ConfigHandler serves c as the web app's /config.json; WebConfig{} is
// the loopback default: the API on the page's origin, no sign-in.
func ConfigHandler(c WebConfig) http.Handler {
	body, _ := json.Marshal(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}

// JWKSRefetchEvery is how often, at most, the provider's keys (or any
// document of it) are fetched again.
const JWKSRefetchEvery = 30 * time.Second

// throttledGets answers a GET of a URL fetched successfully less than
// every ago with that response again, so that the provider is asked at
// most once in that time whatever the tokens sent. A key rotation is
// seen within every.
type throttledGets struct {
	next  http.RoundTripper
	every time.Duration

	mu   sync.Mutex
	last map[string]fetched
}

type fetched struct {
	at     time.Time
	header http.Header
	body   []byte
}

func (t *throttledGets) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		return t.next.RoundTrip(r)
	}
	key := r.URL.String()
	t.mu.Lock()
	f, ok := t.last[key]
	t.mu.Unlock()
	if ok && time.Since(f.at) < t.every {
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: f.header.Clone(), Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)), Request: r}, nil
	}
	res, err := t.next.RoundTrip(r)
	if err != nil || res.StatusCode != http.StatusOK {
		return res, err
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	t.mu.Lock()
	if t.last == nil {
		t.last = map[string]fetched{}
	}
	t.last[key] = fetched{at: time.Now(), header: res.Header.Clone(), body: body}
	t.mu.Unlock()
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	return res, nil
}
