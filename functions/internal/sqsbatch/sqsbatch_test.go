package sqsbatch

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/iris-oculus/iris/internal/ports"
)

// event is an SQS event as Lambda delivers it (field names and attribute
// spelling from the Lambda developer guide's sample event).
const event = `{"Records":[
 {"messageId":"059f36b4-87a3-44ab-83d2-661975830a7d","receiptHandle":"AQEB","body":"{\"jobId\":\"j1\"}",
  "attributes":{"ApproximateReceiveCount":"3","SentTimestamp":"1545082649183"},"eventSource":"aws:sqs"},
 {"messageId":"2e1424d4-f796-459a-8184-9c92662be6da","receiptHandle":"AQEB","body":"second",
  "attributes":{},"eventSource":"aws:sqs"},
 {"messageId":"m3","body":"","attributes":{"ApproximateReceiveCount":"zero"}}]}`

func TestMessages(t *testing.T) {
	var ev events.SQSEvent
	if err := json.Unmarshal([]byte(event), &ev); err != nil {
		t.Fatal(err)
	}
	want := []ports.Message{
		{ID: "059f36b4-87a3-44ab-83d2-661975830a7d", Body: []byte(`{"jobId":"j1"}`), ReceiveCount: 3},
		{ID: "2e1424d4-f796-459a-8184-9c92662be6da", Body: []byte("second"), ReceiveCount: 1},
		{ID: "m3", Body: []byte{}, ReceiveCount: 1},
	}
	if got := Messages(ev); !reflect.DeepEqual(got, want) {
		t.Errorf("Messages =\n%+v\nwant\n%+v", got, want)
	}
}

func TestHandler(t *testing.T) {
	var ev events.SQSEvent
	if err := json.Unmarshal([]byte(event), &ev); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		failed   []string
		err      error
		wantJSON string
		wantErr  bool
	}{
		{name: "all done", wantJSON: `{"batchItemFailures":[]}`},
		{name: "one to redeliver", failed: []string{"m3"}, wantJSON: `{"batchItemFailures":[{"itemIdentifier":"m3"}]}`},
		{name: "consumer error fails the batch", err: errors.New("boom"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen int
			h := Handler(func(_ context.Context, msgs []ports.Message) ([]string, error) {
				seen = len(msgs)
				return tt.failed, tt.err
			})
			resp, err := h(context.Background(), ev)
			if seen != 3 {
				t.Errorf("consumer saw %d messages, want 3", seen)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error, want the consumer's")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(resp)
			if string(b) != tt.wantJSON {
				t.Errorf("response %s, want %s", b, tt.wantJSON)
			}
		})
	}
}
