package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// ErrNoDeviceFlow reports a provider whose discovery document offers no
// device authorization endpoint (Amazon Cognito is one).
var ErrNoDeviceFlow = errors.New("the provider does not offer the device-code sign-in")

// discovery is the part of an OIDC discovery document the device flow needs.
type discovery struct {
	Issuer                      string `json:"issuer"`
	TokenEndpoint               string `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string `json:"device_authorization_endpoint"`
}

// DeviceLogin signs in with the OAuth 2.0 device authorization grant
// (RFC 8628) at an OIDC issuer, for a public client: it reads the
// provider's discovery document, has tell show the person where to go and
// which code to enter (complete is the URI with the code in it, when the
// provider gives one), and waits until they have signed in. It returns the
// ID token when the provider issues one (what an OIDC resource server
// verifies), else the access token. The protocol is golang.org/x/oauth2's.
func DeviceLogin(ctx context.Context, issuer, clientID string, tell func(uri, code, complete string)) (string, error) {
	wellKnown := strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wellKnown, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery: %s answers HTTP %d", wellKnown, resp.StatusCode)
	}
	var d discovery
	if err := json.Unmarshal(b, &d); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if d.DeviceAuthorizationEndpoint == "" || d.TokenEndpoint == "" {
		return "", ErrNoDeviceFlow
	}
	cfg := &oauth2.Config{ClientID: clientID, Scopes: []string{"openid", "profile", "email"},
		Endpoint: oauth2.Endpoint{DeviceAuthURL: d.DeviceAuthorizationEndpoint, TokenURL: d.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams}}
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		return "", fmt.Errorf("device authorization: %w", err)
	}
	tell(da.VerificationURI, da.UserCode, da.VerificationURIComplete)
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		return "", fmt.Errorf("waiting for the sign-in: %w", err)
	}
	if id, ok := tok.Extra("id_token").(string); ok && id != "" {
		return id, nil
	}
	return tok.AccessToken, nil
}
