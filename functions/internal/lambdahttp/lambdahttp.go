// Package lambdahttp runs an http.Handler behind API Gateway HTTP APIs
// (payload format 2.0): it builds an *http.Request from the event, records
// the handler's response and maps it back. The caller's identity, the
// JWT authorizer's verified claims, travels in the request's context;
// Subject reads it.
//
// aws-lambda-go's own lambdaurl package answers with a streamed response,
// which only function URLs accept, not API Gateway; hence this small
// adapter. It buffers the response, which suits an API that answers with
// small JSON documents (API Gateway caps responses at 10 MB anyway).
package lambdahttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// ErrNoSubject means the request carried no verified JWT subject: the
// route has no JWT authorizer, or the token had no sub claim.
var ErrNoSubject = errors.New("no JWT subject: the request did not pass a JWT authorizer")

type claimsKey struct{}

// Handler returns the Lambda handler serving h. An event that cannot
// become a request (a body that is not valid base64, a malformed path)
// gets a 400 in the {"error": {"code", "message"}} shape of our API.
func Handler(h http.Handler) func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := Request(ctx, ev)
		if err != nil {
			return badRequest(err), nil
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return Response(rec), nil
	}
}

// Request builds the request the event describes. Its context carries the
// JWT claims (see Subject). API Gateway joins repeated headers with
// commas; they stay joined.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		return nil, errors.New("event has no requestContext.http.method")
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("request body is not valid base64: %w", err)
		}
		body = b
	}
	target := ev.RawPath
	if target == "" {
		target = "/"
	}
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil {
		ctx = context.WithValue(ctx, claimsKey{}, a.JWT.Claims)
	}
	r, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request %s %q: %w", method, target, err)
	}
	r.RequestURI = target
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP
	for k, v := range ev.Headers {
		r.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.Header.Del("Host")
	r.Header.Del("Content-Length")
	r.ContentLength = int64(len(body))
	return r, nil
}

// Subject is the verified JWT's sub claim (an api.OwnerFunc).
func Subject(r *http.Request) (string, error) {
	claims, _ := r.Context().Value(claimsKey{}).(map[string]string)
	if sub := claims["sub"]; sub != "" {
		return sub, nil
	}
	return "", ErrNoSubject
}

// Response maps a recorded response to the event API Gateway expects.
// Repeated headers are joined with commas, except Set-Cookie, which
// payload 2.0 carries in Cookies. A textual body (text/*, JSON, XML,
// JavaScript) that is valid UTF-8 is passed as it is; any other body is
// base64-encoded.
func Response(rec *httptest.ResponseRecorder) events.APIGatewayV2HTTPResponse {
	res := rec.Result()
	out := events.APIGatewayV2HTTPResponse{StatusCode: res.StatusCode, Headers: map[string]string{}}
	for k, vs := range res.Header {
		if k == "Set-Cookie" {
			out.Cookies = append(out.Cookies, vs...)
			continue
		}
		out.Headers[k] = strings.Join(vs, ",")
	}
	body := rec.Body.Bytes()
	if len(body) > 0 && textual(res.Header.Get("Content-Type")) && utf8.Valid(body) {
		out.Body = string(body)
	} else if len(body) > 0 {
		out.Body = base64.StdEncoding.EncodeToString(body)
		out.IsBase64Encoded = true
	}
	return out
}

func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"), strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript":
		return true
	}
	return false
}

func badRequest(err error) events.APIGatewayV2HTTPResponse {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = "bad_request", err.Error()
	b, _ := json.Marshal(body)
	return events.APIGatewayV2HTTPResponse{
		StatusCode: http.StatusBadRequest,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(b),
	}
}
