package cloudlocal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDC is the issuer and audience that the JWT authorizer checks tokens
// against, in place of the template's (Cognito's user pool and app
// client): any OpenID Connect provider serving discovery and a JWKS.
type OIDC struct {
	Issuer   string
	Audience []string
	// ClientID is the web app's client at the provider, standing for the
	// user pool's app client in the site's config.json.
	ClientID string
	// EndSession stands for Cognito's managed-login /logout; "" means the
	// provider's end_session_endpoint, from its discovery document.
	EndSession string
}

// HTTPAPI is API Gateway's HTTP API: the template's routes, the JWT
// authorizer, and the api function behind them with payload format 2.0.
type HTTPAPI struct {
	routes    []RouteSpec
	functions map[string]*Function
	oidc      OIDC
	cors      map[string]any
	origins   []string // the CORS configuration's AllowOrigins, resolved
	log       *slog.Logger

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
}

// route finds the route for method and path as API Gateway does: exact
// paths before variables, variables before greedy ones, a method before
// ANY, $default last.
func (a *HTTPAPI) route(method, path string) (RouteSpec, map[string]string, bool) {
	type cand struct {
		r     RouteSpec
		vars  map[string]string
		score int
	}
	var best *cand
	for _, r := range a.routes {
		if r.Method != "ANY" && r.Method != method {
			continue
		}
		var vars map[string]string
		score := 0
		if r.Path == "$default" {
			score = -1 << 20
		} else {
			var ok bool
			vars, score, ok = matchPath(r.Path, path)
			if !ok {
				continue
			}
		}
		if r.Method != "ANY" {
			score++
		}
		if best == nil || score > best.score {
			best = &cand{r, vars, score}
		}
	}
	if best == nil {
		return RouteSpec{}, nil, false
	}
	return best.r, best.vars, true
}

// matchPath matches a route template such as /api/{proxy+}; more
// literal segments score higher.
func matchPath(tmpl, path string) (map[string]string, int, bool) {
	ts := strings.Split(strings.Trim(tmpl, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	vars := map[string]string{}
	score := 0
	for i, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "+}") {
			if i >= len(ps) || ps[i] == "" {
				return nil, 0, false
			}
			vars[t[1:len(t)-2]] = strings.Join(ps[i:], "/")
			return vars, score*100 + 1, true
		}
		if i >= len(ps) {
			return nil, 0, false
		}
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			vars[t[1:len(t)-1]] = ps[i]
			score += 10
			continue
		}
		if t != ps[i] {
			return nil, 0, false
		}
		score += 100
	}
	if len(ps) != len(ts) {
		return nil, 0, false
	}
	return vars, score * 100, true
}

func gwError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

func (a *HTTPAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.preflight(w, r) {
		return
	}
	a.corsHeaders(w, r)
	rt, vars, ok := a.route(r.Method, r.URL.Path)
	if !ok {
		gwError(w, http.StatusNotFound, "Not Found")
		return
	}
	var claims map[string]string
	var scopes []string
	if rt.JWT != nil {
		var err error
		claims, scopes, err = a.authorize(r.Context(), r)
		if err != nil {
			a.log.Info("http api: unauthorized", "path", r.URL.Path, "why", err)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			gwError(w, http.StatusUnauthorized, "Unauthorized")
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20+1))
	if err != nil || len(body) > 10<<20 {
		gwError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	routeKey := rt.Method + " " + rt.Path
	if rt.Path == "$default" {
		routeKey = "$default"
	}
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: routeKey, RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}, PathParameters: vars,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: routeKey, AccountID: Account, Stage: "$default", RequestID: newID(), APIID: "local",
			DomainName: r.Host, DomainPrefix: strings.Split(r.Host, ".")[0], Time: now.UTC().Format("02/Jan/2006:15:04:05 -0700"), TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: r.Method, Path: r.URL.Path, Protocol: r.Proto,
				SourceIP: strings.Split(r.RemoteAddr, ":")[0], UserAgent: r.UserAgent()},
		},
	}
	if len(vars) == 0 {
		ev.PathParameters = nil
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims, Scopes: scopes}}
	}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					ev.Cookies = append(ev.Cookies, strings.TrimSpace(c))
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	ev.Headers["host"] = r.Host
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	payload, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	out, err := a.functions[rt.Function].Invoke(ctx, payload)
	if err != nil {
		if ctx.Err() != nil {
			gwError(w, http.StatusServiceUnavailable, "Service Unavailable")
			return
		}
		gwError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	var resp events.APIGatewayV2HTTPResponse
	if json.Unmarshal(out, &resp) != nil || resp.StatusCode == 0 {
		// Payload 2.0: a response without statusCode is the body of a 200.
		w.Header().Set("Content-Type", "application/json")
		w.Write(out)
		return
	}
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	b := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			gwError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
}

// authorize is the JWT authorizer: a bearer token from the identity
// source, signed by a key of the issuer's JWKS, unexpired, from the
// issuer, for one of the audiences (aud, or client_id as in Cognito's
// access tokens).
func (a *HTTPAPI) authorize(ctx context.Context, r *http.Request) (map[string]string, []string, error) {
	if a.oidc.Issuer == "" {
		return nil, nil, fmt.Errorf("no OIDC issuer configured")
	}
	raw := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(raw, "Bearer ")
	if !ok {
		tok = raw
	}
	if tok == "" {
		return nil, nil, fmt.Errorf("no token")
	}
	v, err := a.verifierFor(ctx)
	if err != nil {
		return nil, nil, err
	}
	idt, err := v.Verify(ctx, tok)
	if err != nil {
		return nil, nil, err
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return nil, nil, err
	}
	okAud := false
	for _, aud := range append(append([]string{}, idt.Audience...), fmt.Sprint(all["client_id"])) {
		okAud = okAud || slices.Contains(a.oidc.Audience, aud)
	}
	if !okAud {
		return nil, nil, fmt.Errorf("audience %v / client_id %v not in %v", idt.Audience, all["client_id"], a.oidc.Audience)
	}
	claims := map[string]string{}
	for k, v := range all {
		switch v := v.(type) {
		case string:
			claims[k] = v
		case []any:
			parts := make([]string, 0, len(v))
			for _, e := range v {
				parts = append(parts, fmt.Sprint(e))
			}
			claims[k] = "[" + strings.Join(parts, " ") + "]"
		case float64:
			claims[k] = fmt.Sprintf("%.0f", v)
		default:
			b, _ := json.Marshal(v)
			claims[k] = string(b)
		}
	}
	var scopes []string
	if s, ok := all["scope"].(string); ok {
		scopes = strings.Fields(s)
	}
	return claims, scopes, nil
}

func (a *HTTPAPI) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verifier != nil {
		return a.verifier, nil
	}
	p, err := oidc.NewProvider(oidc.ClientContext(context.Background(), http.DefaultClient), a.oidc.Issuer)
	if err != nil {
		return nil, fmt.Errorf("OIDC discovery of %s: %w", a.oidc.Issuer, err)
	}
	// The audience is checked by authorize (aud or client_id).
	a.verifier = p.Verifier(&oidc.Config{SkipClientIDCheck: true})
	return a.verifier, nil
}

func (a *HTTPAPI) allowedOrigin(origin string) bool {
	for _, o := range a.origins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}

func (a *HTTPAPI) corsHeaders(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" && a.allowedOrigin(o) {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
	}
}

// preflight answers CORS preflight requests as API Gateway does when the
// API has a CORS configuration.
func (a *HTTPAPI) preflight(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" || a.cors == nil {
		return false
	}
	o := r.Header.Get("Origin")
	if a.allowedOrigin(o) {
		strs := func(k string) string {
			var out []string
			for _, v := range list(a.cors[k]) {
				out = append(out, fmt.Sprint(v))
			}
			sort.Strings(out)
			return strings.Join(out, ",")
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Methods", strs("AllowMethods"))
		h.Set("Access-Control-Allow-Headers", strs("AllowHeaders"))
		if ma := a.cors["MaxAge"]; ma != nil {
			h.Set("Access-Control-Max-Age", fmt.Sprint(ma))
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
