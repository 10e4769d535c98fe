package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestSignIn checks what the web app's sign-in needs of the stack: a
// managed-login domain with a branding style for the client, a public
// client for the code grant (PKCE) with the site's callback and sign-out
// URLs, and a config.json naming all of it.
func TestSignIn(t *testing.T) {
	s := synth(t)
	pool := s.logicalID(t, "AWS::Cognito::UserPool", "Users")
	site := "https://<" + s.logicalID(t, "AWS::CloudFront::Distribution", "SiteDistribution") + ".DomainName>"

	_, dom := s.resource(t, "AWS::Cognito::UserPoolDomain", "UsersLogin")
	dp := props(dom)
	if render(dp["UserPoolId"]) != "<"+pool+">" || dp["ManagedLoginVersion"] != float64(2) || render(dp["Domain"]) != "iris-<AWS::AccountId>" {
		t.Errorf("user pool domain %s: want prefix iris-ACCOUNT, managed login v2, on the pool", jsonOf(dp))
	}

	clientID, client := s.resource(t, "AWS::Cognito::UserPoolClient", "UsersWeb")
	cp := props(client)
	want := map[string]any{
		"AllowedOAuthFlows":               []any{"code"},
		"AllowedOAuthFlowsUserPoolClient": true,
		"AllowedOAuthScopes":              []any{"openid", "email", "profile"},
		"GenerateSecret":                  false,
		"SupportedIdentityProviders":      []any{"COGNITO"},
		"EnableTokenRevocation":           true,
	}
	for k, v := range want {
		if !reflect.DeepEqual(cp[k], v) {
			t.Errorf("client %s = %s, want %s", k, jsonOf(cp[k]), jsonOf(v))
		}
	}
	if got := cp["AllowedOAuthScopes"]; jsonOf(got) != jsonOf(toAny(OAuthScopes)) {
		t.Errorf("client scopes %s differ from what config.json asks (%v)", jsonOf(got), OAuthScopes)
	}
	var callbacks, logouts []string
	for _, u := range list(cp["CallbackURLs"]) {
		callbacks = append(callbacks, render(u))
	}
	for _, u := range list(cp["LogoutURLs"]) {
		logouts = append(logouts, render(u))
	}
	if !reflect.DeepEqual(callbacks, []string{site + "/auth/callback"}) || !reflect.DeepEqual(logouts, []string{site + "/"}) {
		t.Errorf("callback URLs %v, sign-out URLs %v: want the site's /auth/callback and /", callbacks, logouts)
	}

	_, brand := s.resource(t, "AWS::Cognito::ManagedLoginBranding", "LoginBranding")
	bp := props(brand)
	if render(bp["ClientId"]) != "<"+clientID+">" || bp["UseCognitoProvidedValues"] != true {
		t.Errorf("managed login branding %s: want Cognito's style for the web client", jsonOf(bp))
	}

	// The API's authorizer trusts the same client.
	_, auth := s.resource(t, "AWS::ApiGatewayV2::Authorizer", "HttpApi")
	if aud := list(props(auth)["JwtConfiguration"].(map[string]any)["Audience"]); len(aud) != 1 || render(aud[0]) != "<"+clientID+">" {
		t.Errorf("authorizer audience %s, want the web client", jsonOf(aud))
	}

	cfg := s.webConfig(t)
	oidc, _ := cfg["oidc"].(map[string]any)
	wantOIDC := map[string]any{
		"authority":          "<" + pool + ".ProviderURL>", // https://cognito-idp.REGION.amazonaws.com/POOL, the tokens' iss
		"clientId":           "<" + clientID + ">",
		"scope":              "openid email profile",
		"endSessionEndpoint": "https://<" + s.logicalID(t, "AWS::Cognito::UserPoolDomain", "UsersLogin") + ">.auth.<AWS::Region>.amazoncognito.com/logout",
		"logoutParams":       map[string]any{"client_id": "<" + clientID + ">", "logout_uri": site + "/"},
	}
	if !reflect.DeepEqual(oidc, wantOIDC) {
		t.Errorf("config.json oidc\n got %s\nwant %s", jsonOf(oidc), jsonOf(wantOIDC))
	}
	if api := cfg["apiUrl"].(string); api != "<"+s.logicalID(t, "AWS::ApiGatewayV2::Api", "HttpApi")+".ApiEndpoint>" {
		t.Errorf("config.json apiUrl %s, want the HTTP API's endpoint", api)
	}
}

// TestSignInExtraOrigins: each extra origin gets its callback and
// sign-out URLs too (a developer's Vite server).
func TestSignInExtraOrigins(t *testing.T) {
	b := &builder{p: Props{ExtraOrigins: []string{"http://localhost:5173"}}}
	b.siteOrigin = ptr("https://site.example")
	var got []string
	for _, u := range *b.originURLs("/auth/callback") {
		got = append(got, *u)
	}
	// The site's entry is a join token; the extra origin is plain text.
	if len(got) != 2 || got[1] != "http://localhost:5173/auth/callback" {
		t.Errorf("callback URLs %v", got)
	}
}

func TestAuthDomainPrefix(t *testing.T) {
	zips := lambdaDir(t)
	for prefix, ok := range map[string]bool{"iris-prod": true, "a": true, "Iris": false, "iris_prod": false, "my-aws-login": false, "-iris": false, "cognito-x": false} {
		_, err := Props{RepoRoot: "..", LambdaDir: zips, AuthDomainPrefix: prefix}.withDefaults()
		if (err == nil) != ok {
			t.Errorf("prefix %q: err %v, want ok=%v", prefix, err, ok)
		}
	}
}

// webConfig is the config.json the BucketDeployment writes, with the
// deploy-time values (markers in the staged file) rendered as text.
func (s *synthesis) webConfig(t *testing.T) map[string]any {
	t.Helper()
	_, dep := s.resource(t, "Custom::CDKBucketDeployment", "SiteContent")
	files, _ := filepath.Glob(filepath.Join(s.outdir, "cdk.out", "asset.*", WebConfigFile))
	if len(files) != 1 {
		t.Fatalf("staged %s: found %v", WebConfigFile, files)
	}
	raw, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, m := range list(props(dep)["SourceMarkers"]) {
		for marker, v := range m.(map[string]any) {
			text = strings.ReplaceAll(text, marker, render(v))
		}
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("config.json is not JSON after rendering: %v\n%s", err, text)
	}
	return cfg
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func ptr(s string) *string { return &s }
