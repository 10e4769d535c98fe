package main

import (
	"context"
	"encoding/json"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/ports"
)

// The two payloads the function receives, as AWS sends them, reach the
// right handler; a batch's failures come back as partial batch failures.
func TestHandlerRoutes(t *testing.T) {
	var gotEvent events.Event
	var gotMsgs []ports.Message
	h := handler(func(ctx context.Context, ev events.Event) error { gotEvent = ev; return nil },
		func(ctx context.Context, msgs []ports.Message) ([]string, error) {
			gotMsgs = msgs
			return []string{msgs[1].ID}, nil
		})
	eb := `{"version":"0","id":"e1","detail-type":"Object Created","source":"aws.s3","account":"1","time":"2026-01-02T03:04:05Z",
	  "region":"eu-west-1","resources":["arn:aws:s3:::b"],"detail":{"bucket":{"name":"b"},"object":{"key":"uploads/x/IM1","size":3,"etag":"e"}}}`
	if _, err := h(context.Background(), json.RawMessage(eb)); err != nil {
		t.Fatal(err)
	}
	if gotEvent.ID != "e1" || gotEvent.DetailType != events.ObjectCreated || gotMsgs != nil {
		t.Fatalf("EventBridge event routed wrong: %+v, %v", gotEvent, gotMsgs)
	}
	sqsBatch := `{"Records":[
	  {"messageId":"m1","receiptHandle":"r","body":"{\"prefix\":\"uploads/x/\",\"key\":\"uploads/x/IM1\"}","attributes":{"ApproximateReceiveCount":"1"},"eventSource":"aws:sqs"},
	  {"messageId":"m2","receiptHandle":"r","body":"{}","attributes":{"ApproximateReceiveCount":"2"},"eventSource":"aws:sqs"}]}`
	gotEvent = events.Event{}
	out, err := h(context.Background(), json.RawMessage(sqsBatch))
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := out.(lambdaevents.SQSEventResponse)
	if !ok || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m2" {
		t.Errorf("response %#v, want m2 reported failed", out)
	}
	if len(gotMsgs) != 2 || gotMsgs[1].ReceiveCount != 2 || gotEvent.ID != "" {
		t.Errorf("SQS batch routed wrong: %+v, event %+v", gotMsgs, gotEvent)
	}
	if _, err := h(context.Background(), json.RawMessage(`[1,2]`)); err == nil {
		t.Error("a payload of neither shape was accepted")
	}
}
