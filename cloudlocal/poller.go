package cloudlocal

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// poller is Lambda's SQS event source mapping: it receives batches of
// up to the mapping's size, invokes the function with them, and deletes
// what succeeded. With ReportBatchItemFailures the response's
// batchItemFailures stay in the queue; without it, or when the function
// fails, the whole batch does. What stays comes back after the queue's
// visibility timeout, and goes to the dead-letter queue after its
// maxReceiveCount, applied by goaws; but goaws stops counting a
// message's receives once its visibility was changed (the consumers'
// retry backoff), so the poller, which counts them itself, moves a
// message received more than maxReceiveCount times to the dead-letter
// queue as SQS would, instead of handing it to the function.
type poller struct {
	spec   MappingSpec
	queue  *QueueSpec
	fn     *Function
	queues *Queues
	log    *slog.Logger
	busy   *atomic.Int64

	mu       sync.Mutex
	receives map[string]int // by message id: goaws always says 1
}

func (p *poller) run(ctx context.Context, n int) {
	for range n {
		go func() {
			for ctx.Err() == nil {
				if !p.once(ctx) {
					select {
					case <-ctx.Done():
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
		}()
	}
}

// once handles one batch; false when there was none.
func (p *poller) once(ctx context.Context) bool {
	url := p.queues.url[p.spec.Queue]
	out, err := p.queues.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &url,
		MaxNumberOfMessages:         int32(min(p.spec.BatchSize, 10)),
		WaitTimeSeconds:             1,
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil || len(out.Messages) == 0 {
		return false
	}
	p.busy.Add(1)
	defer p.busy.Add(-1)
	ev := events.SQSEvent{}
	handles := map[string]string{}
	p.mu.Lock()
	var redrive []sqstypes.Message
	for _, m := range out.Messages {
		id := deref(m.MessageId)
		p.receives[id]++
		if p.queue != nil && p.queue.DLQ != "" && p.queue.MaxReceiveCount > 0 && p.receives[id] > p.queue.MaxReceiveCount {
			delete(p.receives, id)
			redrive = append(redrive, m)
			continue
		}
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		attrs["ApproximateReceiveCount"] = strconv.Itoa(p.receives[id])
		rec := events.SQSMessage{MessageId: id, ReceiptHandle: deref(m.ReceiptHandle), Body: deref(m.Body),
			Md5OfBody: deref(m.MD5OfBody), Attributes: attrs, EventSource: "aws:sqs",
			EventSourceARN: p.queues.arn[p.spec.Queue], AWSRegion: Region}
		if len(m.MessageAttributes) > 0 {
			rec.MessageAttributes = map[string]events.SQSMessageAttribute{}
			for k, v := range m.MessageAttributes {
				rec.MessageAttributes[k] = events.SQSMessageAttribute{DataType: deref(v.DataType), StringValue: v.StringValue}
			}
		}
		ev.Records = append(ev.Records, rec)
		handles[id] = deref(m.ReceiptHandle)
	}
	p.mu.Unlock()
	for _, m := range redrive {
		attrs := map[string]string{}
		for k, v := range m.MessageAttributes {
			attrs[k] = deref(v.StringValue)
		}
		if err := p.queues.send(ctx, p.queue.DLQ, deref(m.Body), attrs); err != nil {
			p.log.Warn("sqs mapping: redrive to the dead-letter queue", "queue", p.queue.DLQ, "err", err)
			continue
		}
		p.queues.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle})
	}
	if len(ev.Records) == 0 {
		return true
	}
	payload, _ := json.Marshal(ev)
	resp, err := p.fn.Invoke(ctx, payload)
	if err != nil {
		p.log.Warn("sqs mapping: function failed; the batch stays in the queue", "function", p.fn.Spec.Name, "messages", len(ev.Records), "err", err)
		return true
	}
	keep := map[string]bool{}
	if p.spec.ReportBatchItemFailure {
		var r events.SQSEventResponse
		if json.Unmarshal(resp, &r) != nil {
			return true // an unreadable response fails the whole batch
		}
		for _, f := range r.BatchItemFailures {
			if _, ok := handles[f.ItemIdentifier]; !ok {
				return true // an unknown or empty id fails the whole batch
			}
			keep[f.ItemIdentifier] = true
		}
	}
	for id, h := range handles {
		if keep[id] {
			continue
		}
		if _, err := p.queues.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: &h}); err != nil {
			p.log.Warn("sqs mapping: delete", "err", err)
			continue
		}
		p.mu.Lock()
		delete(p.receives, id)
		p.mu.Unlock()
	}
	return true
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
