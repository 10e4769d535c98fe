package lambdahttp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iris-oculus/iris/internal/api"
	"github.com/iris-oculus/iris/internal/job"
)

// sample is the payload 2.0 example of the API Gateway developer guide
// ("Working with AWS Lambda proxy integrations for HTTP APIs"), with a JWT
// authorizer's claims.
const sample = `{
  "version": "2.0",
  "routeKey": "$default",
  "rawPath": "/my/path",
  "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
  "cookies": ["cookie1", "cookie2=v2"],
  "headers": {"header1": "value1", "header2": "value1,value2", "host": "abc.execute-api.eu-west-1.amazonaws.com", "content-length": "999"},
  "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
  "requestContext": {
    "accountId": "123456789012",
    "apiId": "api-id",
    "authorizer": {"jwt": {"claims": {"sub": "4f1e-owner", "claim2": "value2"}, "scopes": ["scope1"]}},
    "domainName": "id.execute-api.us-east-1.amazonaws.com",
    "domainPrefix": "id",
    "http": {"method": "POST", "path": "/my/path", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "agent"},
    "requestId": "id",
    "routeKey": "$default",
    "stage": "$default",
    "time": "12/Mar/2020:19:03:58 +0000",
    "timeEpoch": 1583348638390
  },
  "body": "Hello from Lambda",
  "pathParameters": {"parameter1": "value1"},
  "isBase64Encoded": false,
  "stageVariables": {"stageVariable1": "value1"}
}`

func sampleEvent(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(sample), &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// seen is what a handler saw of a request.
type seen struct {
	Method, Path, RawQuery, Host, Remote, Body, Cookie string
	Query                                              map[string][]string
	Header1, Header2                                   string
	ContentLength                                      int64
	Owner                                              string
	OwnerErr                                           error
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*events.APIGatewayV2HTTPRequest)
		want   seen
	}{
		{
			name: "the guide's sample",
			want: seen{Method: "POST", Path: "/my/path", RawQuery: "parameter1=value1&parameter1=value2&parameter2=value",
				Query: map[string][]string{"parameter1": {"value1", "value2"}, "parameter2": {"value"}},
				Host:  "abc.execute-api.eu-west-1.amazonaws.com", Remote: "192.0.2.1", Body: "Hello from Lambda",
				ContentLength: 17, Cookie: "cookie1; cookie2=v2", Header1: "value1", Header2: "value1,value2", Owner: "4f1e-owner"},
		},
		{
			name: "base64 body, no query, no authorizer, no host header",
			modify: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte{0x1f, 0x8b, 0, 0xff}), true
				ev.RawQueryString, ev.Cookies = "", nil
				ev.RequestContext.Authorizer = nil
				delete(ev.Headers, "host")
				ev.RequestContext.HTTP.Method = "PUT"
			},
			want: seen{Method: "PUT", Path: "/my/path", Query: map[string][]string{}, Host: "id.execute-api.us-east-1.amazonaws.com",
				Remote: "192.0.2.1", Body: "\x1f\x8b\x00\xff", ContentLength: 4, Header1: "value1", Header2: "value1,value2", OwnerErr: ErrNoSubject},
		},
		{
			name: "escaped path, JWT without sub",
			modify: func(ev *events.APIGatewayV2HTTPRequest) {
				ev.RawPath, ev.Body, ev.RawQueryString = "/api/jobs/a%2Fb", "", "x=%20y"
				ev.RequestContext.Authorizer.JWT.Claims = map[string]string{"email": "a@b.c"}
				ev.RequestContext.HTTP.Method = "GET"
			},
			want: seen{Method: "GET", Path: "/api/jobs/a/b", RawQuery: "x=%20y", Query: map[string][]string{"x": {" y"}},
				Host: "abc.execute-api.eu-west-1.amazonaws.com", Remote: "192.0.2.1", Cookie: "cookie1; cookie2=v2",
				Header1: "value1", Header2: "value1,value2", OwnerErr: ErrNoSubject},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := sampleEvent(t)
			if tt.modify != nil {
				tt.modify(&ev)
			}
			var got seen
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				got = seen{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Query: r.URL.Query(), Host: r.Host,
					Remote: r.RemoteAddr, Body: string(b), ContentLength: r.ContentLength, Cookie: r.Header.Get("Cookie"),
					Header1: r.Header.Get("Header1"), Header2: r.Header.Get("Header2")}
				got.Owner, got.OwnerErr = Subject(r)
				w.WriteHeader(http.StatusNoContent)
			})
			resp, err := Handler(h)(context.Background(), ev)
			if err != nil || resp.StatusCode != http.StatusNoContent {
				t.Fatalf("Handler = %d, %v; want 204, nil", resp.StatusCode, err)
			}
			if !errors.Is(got.OwnerErr, tt.want.OwnerErr) {
				t.Errorf("Subject error = %v, want %v", got.OwnerErr, tt.want.OwnerErr)
			}
			got.OwnerErr, tt.want.OwnerErr = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("handler saw\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestBadEvents(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*events.APIGatewayV2HTTPRequest)
		want   string
	}{
		{"bad base64", func(ev *events.APIGatewayV2HTTPRequest) { ev.IsBase64Encoded = true; ev.Body = "not base64!" }, "base64"},
		{"no method", func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "" }, "method"},
		{"bad method", func(ev *events.APIGatewayV2HTTPRequest) { ev.RequestContext.HTTP.Method = "GE T" }, "GE T"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := sampleEvent(t)
			tt.modify(&ev)
			called := false
			resp, err := Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			var body api.ErrorBody
			if e := json.Unmarshal([]byte(resp.Body), &body); e != nil || resp.StatusCode != 400 || called ||
				body.Error.Code != "bad_request" || !strings.Contains(body.Error.Message, tt.want) {
				t.Errorf("response %d %s (handler called: %v); want 400 bad_request mentioning %q", resp.StatusCode, resp.Body, called, tt.want)
			}
		})
	}
}

func TestResponse(t *testing.T) {
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantStatus  int
		wantHeaders map[string]string
		wantCookies []string
		wantBody    string
		wantBase64  bool
	}{
		{
			name: "JSON passes as text",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusCreated)
				io.WriteString(w, `{"id":"é"}`)
			},
			wantStatus: 201, wantHeaders: map[string]string{"Content-Type": "application/json; charset=utf-8"}, wantBody: `{"id":"é"}`,
		},
		{
			name: "binary is base64, repeated headers joined, cookies apart",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "model/gltf-binary")
				w.Header().Add("Vary", "Origin")
				w.Header().Add("Vary", "Accept")
				http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
				http.SetCookie(w, &http.Cookie{Name: "b", Value: "2", Expires: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
				w.Write([]byte("glTF\x02\x00\x00\x00"))
			},
			wantStatus: 200, wantHeaders: map[string]string{"Content-Type": "model/gltf-binary", "Vary": "Origin,Accept"},
			wantCookies: []string{"a=1", "b=2; Expires=Tue, 01 Jan 2030 00:00:00 GMT"},
			wantBody:    base64.StdEncoding.EncodeToString([]byte("glTF\x02\x00\x00\x00")), wantBase64: true,
		},
		{
			name: "text that is not UTF-8 is base64",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Write([]byte{0xff, 0xfe})
			},
			wantStatus: 200, wantHeaders: map[string]string{"Content-Type": "text/plain"}, wantBody: "//4=", wantBase64: true,
		},
		{
			name:       "no body, status defaults to 200",
			handler:    func(w http.ResponseWriter, r *http.Request) {},
			wantStatus: 200, wantHeaders: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := Handler(tt.handler)(context.Background(), sampleEvent(t))
			if err != nil {
				t.Fatal(err)
			}
			sort.Strings(resp.Cookies)
			if resp.StatusCode != tt.wantStatus || resp.Body != tt.wantBody || resp.IsBase64Encoded != tt.wantBase64 ||
				!reflect.DeepEqual(resp.Headers, tt.wantHeaders) || !reflect.DeepEqual(resp.Cookies, tt.wantCookies) {
				t.Errorf("response = %+v\nwant status %d headers %v cookies %q body %q base64 %v",
					resp, tt.wantStatus, tt.wantHeaders, tt.wantCookies, tt.wantBody, tt.wantBase64)
			}
		})
	}
}

// The API Lambda's wiring: the real API handler sees the token's subject
// as the owner, and a request without one is refused.
func TestAPIOwner(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	store := &job.Memory{}
	for _, j := range []job.Job{
		{ID: "jmine001", Owner: "4f1e-owner", Status: job.Created, CreatedAt: now, UpdatedAt: now},
		{ID: "jother01", Owner: "someone-else", Status: job.Created, CreatedAt: now, UpdatedAt: now},
	} {
		if _, err := store.Create(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
	h := Handler((&api.Server{Store: store, Owner: Subject, Clock: func() time.Time { return now }}).Handler())
	tests := []struct {
		name, path string
		noJWT      bool
		wantStatus int
		wantIn     string
	}{
		{name: "own job", path: "/api/jobs/jmine001", wantStatus: 200, wantIn: `"jmine001"`},
		{name: "another owner's job is not found", path: "/api/jobs/jother01", wantStatus: 404, wantIn: "not_found"},
		{name: "list holds only own jobs", path: "/api/jobs", wantStatus: 200, wantIn: `"jmine001"`},
		{name: "no token", path: "/api/jobs", noJWT: true, wantStatus: 401, wantIn: "unauthorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := sampleEvent(t)
			ev.RawPath, ev.RawQueryString, ev.Body = tt.path, "", ""
			ev.RequestContext.HTTP.Method = "GET"
			if tt.noJWT {
				ev.RequestContext.Authorizer = nil
			}
			resp, err := h(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.wantStatus || !strings.Contains(resp.Body, tt.wantIn) || strings.Contains(resp.Body, `"id":"jother01"`) {
				t.Errorf("GET %s = %d %s; want %d containing %s and never the id jother01", tt.path, resp.StatusCode, resp.Body, tt.wantStatus, tt.wantIn)
			}
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(sample), &ev); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"jobs":[{"id":"j1234567","status":"done"}],"next":""}`)
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}
