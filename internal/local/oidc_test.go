package local

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The app's origin the test provider's client redirects to; nothing
// listens there: the flow stops at the redirect and reads the code.
const testOrigin = "http://127.0.0.1:9"

// provider is the node oidc-provider of web/e2e/oidc-provider.mjs,
// started on a free loopback port.
type provider struct{ issuer string }

// startProvider runs web/e2e/oidc-provider.mjs with the client iris-web
// (and other-app) and the users alice and bob; it stops with the test.
func startProvider(t *testing.T, ttl int) provider {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node not found: install Node.js 20.19+ (the test runs the OIDC provider web/e2e/oidc-provider.mjs)")
	}
	web, _ := filepath.Abs(filepath.Join("..", "..", "web"))
	if _, err := os.Stat(filepath.Join(web, "node_modules", "oidc-provider")); err != nil {
		t.Fatal("web/node_modules/oidc-provider not found: run `cd web && npm ci`")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "e2e/oidc-provider.mjs", "--port", "0",
		"--client", "iris-web="+testOrigin, "--client", "other-app="+testOrigin,
		"--user", "alice:alice-pw:sub-alice", "--user", "bob:bob-pw:sub-bob",
		"--access-ttl", fmt.Sprint(ttl), "--audience", "iris-api")
	cmd.Dir = web
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oidc-provider: %v", err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "{") {
				line <- s.Text()
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case l := <-line:
		var v struct{ Issuer string }
		if err := json.Unmarshal([]byte(l), &v); err != nil || v.Issuer == "" {
			t.Fatalf("oidc-provider said %q", l)
		}
		return provider{issuer: v.Issuer}
	case <-time.After(30 * time.Second):
		t.Fatal("oidc-provider did not start within 30 s")
	}
	return provider{}
}

// tokens signs user in as a browser would: authorization code with PKCE
// through the provider's login form, then the code exchange.
func (p provider) tokens(t *testing.T, client, user, password string) (access, id string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	redirect := testOrigin + "/auth/callback"
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	verifier := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {client}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid profile email"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}, "state": {"s1"}}
	res, err := hc.Get(p.issuer + "/auth?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := regexp.MustCompile(`action="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no login form: %d %.300s", res.StatusCode, page)
	}
	res, err = hc.PostForm(p.issuer+string(m[1]), url.Values{"username": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code after sign-in: %d %s", res.StatusCode, loc)
	}
	res, err = hc.PostForm(p.issuer+"/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"client_id": {client}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token exchange: %d %v", res.StatusCode, err)
	}
	return tok.AccessToken, tok.IDToken
}

func TestOIDCOwnerIsTheVerifiedSubject(t *testing.T) {
	p := startProvider(t, 300)
	other := startProvider(t, 300) // another issuer, keys of its own
	ctx := context.Background()
	check := func(audience string, now func() time.Time) *OIDC {
		o, err := NewOIDC(ctx, OIDCConfig{Issuer: p.issuer, Audience: audience, ClientID: "iris-web", Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	aliceAT, aliceID := p.tokens(t, "iris-web", "alice", "alice-pw")
	bobAT, _ := p.tokens(t, "iris-web", "bob", "bob-pw")
	otherAppAT, _ := p.tokens(t, "other-app", "alice", "alice-pw")
	elsewhereAT, _ := other.tokens(t, "iris-web", "alice", "alice-pw")

	// The signed payload changed (sub swapped), the signature kept.
	parts := strings.Split(aliceAT, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "sub-alice", "sub-bob", 1))) + "." + parts[2]
	// The same claims, unsigned.
	unsigned := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."

	later := func() time.Time { return time.Now().Add(2 * time.Hour) }
	for _, tc := range []struct {
		name, audience, token string
		now                   func() time.Time
		want                  string // the owner, or "" for a refusal
	}{
		{"access token, client_id is the audience (Cognito's)", "iris-web", aliceAT, nil, "sub-alice"},
		{"access token, aud is the audience", "iris-api", aliceAT, nil, "sub-alice"},
		{"another user is another owner", "iris-web", bobAT, nil, "sub-bob"},
		{"ID token, aud is the client", "iris-web", aliceID, nil, "sub-alice"},
		{"another client's token", "iris-web", otherAppAT, nil, ""},
		{"a token for another audience", "somebody-else", aliceAT, nil, ""},
		{"an expired token", "iris-web", aliceAT, later, ""},
		{"another issuer's token", "iris-web", elsewhereAT, nil, ""},
		{"a forged payload", "iris-web", forged, nil, ""},
		{"an unsigned token", "iris-web", unsigned, nil, ""},
		{"not a JWT", "iris-web", "opaque-token", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/jobs", nil)
			r.Header.Set("Authorization", "Bearer "+tc.token)
			got, err := check(tc.audience, tc.now).Owner(r)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted as %q; want a refusal", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Owner = %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	o := check("iris-web", nil)
	for _, h := range []string{"", "Bearer ", "Basic " + aliceAT, aliceAT} {
		r := httptest.NewRequest(http.MethodGet, "/api/jobs", nil)
		r.Header.Set("Authorization", h)
		if _, err := o.Owner(r); !errors.Is(err, ErrNoBearer) {
			t.Errorf("Authorization %.20q: err %v, want ErrNoBearer", h, err)
		}
	}
}

func TestOIDCConfigDocument(t *testing.T) {
	p := startProvider(t, 300)
	o, err := NewOIDC(context.Background(), OIDCConfig{Issuer: p.issuer, Audience: "iris-api", ClientID: "iris-web"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	o.ConfigHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config.json", nil))
	var got WebConfig
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := WebOIDCConfig{Authority: p.issuer, ClientID: "iris-web", Scope: "openid profile email"}
	if rec.Code != 200 || got.APIURL != "" || got.OIDC == nil || fmt.Sprint(*got.OIDC) != fmt.Sprint(want) {
		t.Fatalf("config.json = %d %s", rec.Code, rec.Body)
	}
	// Without a provider: the API on the page's origin, no sign-in.
	rec = httptest.NewRecorder()
	ConfigHandler(WebConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config.json", nil))
	if rec.Code != 200 || rec.Body.String() != `{"apiUrl":""}` {
		t.Fatalf("loopback config.json = %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	o.ConfigHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/config.json", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /config.json: %d", rec.Code)
	}
}

func TestNewOIDCRefusesAnUnreachableOrWrongIssuer(t *testing.T) {
	p := startProvider(t, 300)
	for name, issuer := range map[string]string{
		"nothing listens":     "http://127.0.0.1:9",
		"issuer differs":      p.issuer + "/",
		"not a provider page": p.issuer + "/nope",
	} {
		if _, err := NewOIDC(context.Background(), OIDCConfig{Issuer: issuer, Audience: "iris-web"}); err == nil {
			t.Errorf("%s: NewOIDC(%s) succeeded", name, issuer)
		}
	}
}

// counting counts the requests that reach the provider, by path.
type counting struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[r.URL.Path]++
	c.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

// TestOIDCForgedTokensDoNotHammerTheProvider: tokens naming keys the
// provider never had make go-oidc fetch the JWKS again; the throttle
// lets one fetch through per JWKSRefetchEvery.
func TestOIDCForgedTokensDoNotHammerTheProvider(t *testing.T) {
	p := startProvider(t, 300)
	count := &counting{n: map[string]int{}}
	o, err := NewOIDC(context.Background(), OIDCConfig{Issuer: p.issuer, Audience: "iris-web", Client: &http.Client{Transport: count}})
	if err != nil {
		t.Fatal(err)
	}
	at, _ := p.tokens(t, "iris-web", "alice", "alice-pw")
	if sub, err := o.Verify(context.Background(), at); err != nil || sub != "sub-alice" {
		t.Fatalf("a real token: %q, %v", sub, err)
	}
	parts := strings.Split(at, ".")
	for i := range 50 {
		header := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"alg":"RS256","kid":"forged-%d"}`, i)))
		if _, err := o.Verify(context.Background(), header+"."+parts[1]+"."+parts[2]); err == nil {
			t.Fatal("a token naming an unknown key was accepted")
		}
	}
	count.mu.Lock()
	defer count.mu.Unlock()
	if n := count.n["/jwks"]; n < 1 || n > 2 {
		t.Errorf("the JWKS was fetched %d times for 1 real and 50 forged tokens; want 1 or 2", n)
	}
	t.Logf("provider requests: %v", count.n)
}
