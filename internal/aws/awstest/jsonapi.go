package awstest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Call is one request a JSONAPI received.
type Call struct {
	Target string          // X-Amz-Target, e.g. "AWSEvents.PutEvents"
	Body   json.RawMessage // the request document
	Header http.Header
}

// APIError is an AWS error answer: HTTP status, error code and message.
type APIError struct {
	Status  int
	Code    string
	Message string
}

// Handler answers one operation: the value to encode as the response
// document, or an error to send as AWS does.
type Handler func(body json.RawMessage) (any, *APIError)

// JSONAPI is an httptest server speaking the AWS JSON protocol (1.0 and
// 1.1, used by EventBridge, SageMaker, Application Auto Scaling and
// others) for the operations it is given, for services no emulator
// covers. It refuses requests that are not SigV4-signed POSTs of the
// protocol's content type, answers unknown operations as AWS does, and
// records every call so tests can assert what the SDK sent.
type JSONAPI struct {
	Server *httptest.Server

	mu    sync.Mutex
	calls []Call
}

// StartJSONAPI starts a server on 127.0.0.1 answering the operations in
// handlers, keyed by X-Amz-Target.
func StartJSONAPI(t testing.TB, handlers map[string]Handler) *JSONAPI {
	t.Helper()
	s := &JSONAPI{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if r.Method != http.MethodPost || !strings.HasPrefix(ct, "application/x-amz-json-1.") {
			writeError(w, ct, &APIError{http.StatusBadRequest, "SerializationException", "not an AWS JSON request: " + r.Method + " " + ct})
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=") {
			writeError(w, ct, &APIError{http.StatusForbidden, "MissingAuthenticationTokenException", "request is not SigV4-signed"})
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil || !json.Valid(body) {
			writeError(w, ct, &APIError{http.StatusBadRequest, "SerializationException", "body is not JSON"})
			return
		}
		target := r.Header.Get("X-Amz-Target")
		s.mu.Lock()
		s.calls = append(s.calls, Call{Target: target, Body: body, Header: r.Header.Clone()})
		s.mu.Unlock()
		h, ok := handlers[target]
		if !ok {
			writeError(w, ct, &APIError{http.StatusBadRequest, "UnknownOperationException", "unknown operation " + target})
			return
		}
		resp, apiErr := h(body)
		if apiErr != nil {
			writeError(w, ct, apiErr)
			return
		}
		out, err := json.Marshal(resp)
		if err != nil {
			writeError(w, ct, &APIError{http.StatusInternalServerError, "InternalFailure", err.Error()})
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("X-Amzn-RequestId", "test-request")
		w.Write(out)
	}))
	t.Cleanup(s.Server.Close)
	return s
}

// URL is the server's base URL, for the client's BaseEndpoint.
func (s *JSONAPI) URL() string { return s.Server.URL }

// Calls returns the calls received so far, oldest first.
func (s *JSONAPI) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

func writeError(w http.ResponseWriter, ct string, e *APIError) {
	if ct == "" {
		ct = "application/x-amz-json-1.1"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	w.WriteHeader(e.Status)
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Write(b)
}
