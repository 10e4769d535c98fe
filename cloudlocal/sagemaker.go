package cloudlocal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Endpoint is a SageMaker asynchronous inference endpoint in front of a
// container serving POST /invocations (the gpuworker binary): requests
// queue, at most MaxConcurrentInvocationsPerInstance run at once, each
// input is read from S3 and POSTed to the container, and the answer is
// written to the output location (2xx) or the failure location, a
// failure also being noted as published to the error topic.
type Endpoint struct {
	name        string
	outputPath  string // s3://bucket/prefix
	failurePath string
	errorTopic  string
	container   string // http://127.0.0.1:port
	s3          *s3.Client
	log         *slog.Logger
	busy        *atomic.Int64
	queue       chan asyncRequest

	mu            sync.Mutex
	notifications []Notification
	invocations   int
	requests      map[string]int           // input key's job folder → requests accepted
	holds         map[string]chan struct{} // output substring → released when closed
}

// Hold keeps the answers of requests whose output location contains
// substr (a job id) from being written until release is called: the
// segmentation runs, and its output lands late, after what the test does
// meanwhile. The request occupies its slot of the endpoint while held.
func (e *Endpoint) Hold(substr string) (release func()) {
	ch := make(chan struct{})
	e.mu.Lock()
	if e.holds == nil {
		e.holds = map[string]chan struct{}{}
	}
	e.holds[substr] = ch
	e.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.holds, substr)
			e.mu.Unlock()
			close(ch)
		})
	}
}

// wait blocks while a hold matches output.
func (e *Endpoint) wait(ctx context.Context, output string) {
	e.mu.Lock()
	var held []chan struct{}
	for s, ch := range e.holds {
		if strings.Contains(output, s) {
			held = append(held, ch)
		}
	}
	e.mu.Unlock()
	for _, ch := range held {
		select {
		case <-ch:
		case <-ctx.Done():
		}
	}
}

// Notification is an error notification SageMaker would publish to the
// endpoint's error topic.
type Notification struct {
	Topic           string `json:"topic"`
	InferenceID     string `json:"inferenceId"`
	FailureLocation string `json:"failureLocation"`
	Reason          string `json:"failureReason"`
}

type asyncRequest struct {
	id, input, output, failure, contentType string
	queued                                  time.Time
	ttl, timeout                            time.Duration
}

// Notifications are the error notifications so far.
func (e *Endpoint) Notifications() []Notification {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Notification(nil), e.notifications...)
}

// ServeHTTP is InvokeEndpointAsync (REST-JSON):
// POST /endpoints/{name}/async-invocations.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/endpoints/")
	name, ok2 := strings.CutSuffix(name, "/async-invocations")
	if !ok || !ok2 || r.Method != http.MethodPost {
		smError(w, http.StatusNotFound, "UnknownOperationException", "only InvokeEndpointAsync is emulated")
		return
	}
	if name != e.name {
		smError(w, http.StatusBadRequest, "ValidationError", "Endpoint "+name+" of account "+Account+" not found.")
		return
	}
	h := r.Header
	in := h.Get("X-Amzn-SageMaker-InputLocation")
	if !strings.HasPrefix(in, "s3://") {
		smError(w, http.StatusBadRequest, "ValidationError", "InputLocation must be an s3:// URI")
		return
	}
	req := asyncRequest{id: h.Get("X-Amzn-SageMaker-Inference-Id"), input: in, contentType: h.Get("X-Amzn-SageMaker-Content-Type"),
		queued: time.Now(), ttl: 6 * time.Hour, timeout: 15 * time.Minute}
	if req.id == "" {
		req.id = newID()
	}
	if s := h.Get("X-Amzn-SageMaker-RequestTTLSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 60 || n > 21600 {
			smError(w, http.StatusBadRequest, "ValidationError", "RequestTTLSeconds must be 60 to 21600")
			return
		}
		req.ttl = time.Duration(n) * time.Second
	}
	if s := h.Get("X-Amzn-SageMaker-InvocationTimeoutSeconds"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 3600 {
			smError(w, http.StatusBadRequest, "ValidationError", "InvocationTimeoutSeconds must be 1 to 3600")
			return
		}
		req.timeout = time.Duration(n) * time.Second
	}
	ext := strings.Trim(h.Get("X-Amzn-SageMaker-S3OutputPathExtension"), "/")
	file := h.Get("X-Amzn-SageMaker-Filename")
	if file == "" {
		file = newID() + ".out"
	}
	join := func(parts ...string) string {
		var keep []string
		for _, p := range parts {
			if p = strings.Trim(p, "/"); p != "" {
				keep = append(keep, p)
			}
		}
		return strings.Join(keep, "/")
	}
	req.output = "s3://" + join(strings.TrimPrefix(e.outputPath, "s3://"), ext, file)
	req.failure = "s3://" + join(strings.TrimPrefix(e.failurePath, "s3://"), ext, req.id+"-error.out")
	e.busy.Add(1)
	select {
	case e.queue <- req:
	default:
		e.busy.Add(-1)
		smError(w, http.StatusTooManyRequests, "ThrottlingException", "the endpoint's queue is full")
		return
	}
	e.mu.Lock()
	if e.requests == nil {
		e.requests = map[string]int{}
	}
	e.requests[inputJob(in)]++
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-SageMaker-OutputLocation", req.output)
	w.Header().Set("X-Amzn-SageMaker-FailureLocation", req.failure)
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]string{"InferenceId": req.id})
}

func smError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// work runs n invocation slots until ctx ends.
func (e *Endpoint) work(ctx context.Context, n int) {
	for range n {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case req := <-e.queue:
					e.invoke(ctx, req)
					e.busy.Add(-1)
				}
			}
		}()
	}
}

func (e *Endpoint) invoke(ctx context.Context, req asyncRequest) {
	e.mu.Lock()
	e.invocations++
	e.mu.Unlock()
	status, body, reason := e.call(ctx, req)
	e.wait(ctx, req.output)
	if ctx.Err() != nil {
		return
	}
	if status/100 == 2 {
		if err := e.put(ctx, req.output, body, "application/octet-stream"); err != nil {
			e.log.Error("sagemaker: write output", "inference", req.id, "err", err)
		}
		return
	}
	if err := e.put(ctx, req.failure, body, "application/json"); err != nil {
		e.log.Error("sagemaker: write failure", "inference", req.id, "err", err)
	}
	e.mu.Lock()
	e.notifications = append(e.notifications, Notification{Topic: e.errorTopic, InferenceID: req.id, FailureLocation: req.failure, Reason: reason})
	e.mu.Unlock()
}

// call runs one request against the container: status, body, and the
// failure reason SageMaker would report.
func (e *Endpoint) call(ctx context.Context, req asyncRequest) (int, []byte, string) {
	if time.Since(req.queued) > req.ttl {
		return 0, []byte("Request expired"), "ClientError: Request expired"
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(req.input, "s3://"), "/")
	obj, err := e.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return 0, []byte(fmt.Sprintf("Failed to download input from %s", req.input)), "ClientError: Failed to download input data"
	}
	input, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil {
		return 0, []byte("Failed to download input"), "ClientError: Failed to download input data"
	}
	cctx, cancel := context.WithTimeout(ctx, req.timeout)
	defer cancel()
	hr, _ := http.NewRequestWithContext(cctx, http.MethodPost, e.container+"/invocations", bytes.NewReader(input))
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return 0, []byte("Model container did not answer: " + err.Error()), "ServerError: Request timed out or the container failed"
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, []byte("Model container's answer was cut off"), "ServerError: Received server error from primary container"
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, body, fmt.Sprintf("ClientError: Received client error (%d) from primary container", resp.StatusCode)
	}
	return resp.StatusCode, body, ""
}

func (e *Endpoint) put(ctx context.Context, uri string, body []byte, ct string) error {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	_, err := e.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), ContentType: &ct})
	return err
}

// inputJob is the job folder of an input location,
// s3://bucket/volumes/{job}/ct.nii.gz, or the whole location if it has
// no such shape.
func inputJob(uri string) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	if rest, ok := strings.CutPrefix(key, "volumes/"); ok {
		if job, _, ok := strings.Cut(rest, "/"); ok {
			return job
		}
	}
	return uri
}

// Requests counts the InvokeEndpointAsync requests the endpoint accepted
// for a job (by the job folder of the input location): each one would
// run a segmentation.
func (e *Endpoint) Requests(job string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[job]
}

// Invocations counts the requests the container was sent (or that
// expired before).
func (e *Endpoint) Invocations() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.invocations
}
