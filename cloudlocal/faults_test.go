package cloudlocal_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iris-oculus/iris/cloudlocal"
	"github.com/iris-oculus/iris/internal/api"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/timing"
)

// submit creates a job through the HTTP API with token and uploads data
// through the presigned URL it answers, as the web app does; before, when
// not nil, runs between the two with the job's id.
func submit(t *testing.T, c *cloudlocal.Cloud, token, name string, data []byte, before func(id string)) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"filename": name, "bytes": len(data)})
	var cr struct {
		Job    api.JobView  `json:"job"`
		Upload ports.Upload `json:"upload"`
	}
	if code := call(t, c, token, http.MethodPost, "/api/jobs", body, &cr); code != http.StatusCreated {
		t.Fatalf("POST /api/jobs: %d", code)
	}
	if before != nil {
		before(cr.Job.ID)
	}
	req, _ := http.NewRequest(cr.Upload.Method, cr.Upload.URL, bytes.NewReader(data))
	for k, v := range cr.Upload.Headers {
		req.Header.Set(k, v)
	}
	resp, err := s3Client(t, c).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload through the presigned URL: %d", resp.StatusCode)
	}
	return cr.Job.ID
}

// s3Client trusts the S3 emulator's certificate.
func s3Client(t *testing.T, c *cloudlocal.Cloud) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(c.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// waitStatus waits until the job's record has status s.
func waitStatus(t *testing.T, store *iaws.DynamoStore, id string, s job.Status) {
	t.Helper()
	var j job.Job
	if !waitFor(jobTimeout, func() bool {
		j, _ = store.Get(context.Background(), id)
		return j.Status == s || j.Status.Terminal()
	}) || j.Status != s {
		t.Fatalf("job %s never %s (last %q)", id, s, j.Status)
	}
}

// keysOf lists every object in the bucket whose key names the job.
func keysOf(t *testing.T, c *cloudlocal.Cloud, id string) []string {
	t.Helper()
	var out []string
	for _, k := range keys(t, c, "") {
		if strings.Contains(k, id) {
			out = append(out, k)
		}
	}
	return out
}

func noDeadLetters(t *testing.T, c *cloudlocal.Cloud) {
	t.Helper()
	dl, err := c.DeadLetters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for q, n := range dl {
		if n != 0 {
			t.Errorf("%d message(s) in %s", n, q)
		}
	}
}

// meshRetries is scenario 4: a mesher that fails twice, then succeeds;
// one that fails every time gives up with mesh_failed.
func meshRetries(t *testing.T, c *cloudlocal.Cloud, store *iaws.DynamoStore, ct []byte, backoff time.Duration) {
	t0, base := time.Now(), c.RefusedReads()
	flaky := drop(t, c, "flaky-mesher.nii.gz", ct)
	c.FailReads("segmentations/"+flaky+"/", 2)
	broken := drop(t, c, "broken-mesher.nii.gz", ct)
	c.FailReads("segmentations/"+broken+"/", -1)
	defer c.FailReads("segmentations/"+broken+"/", 0)

	j := wait(t, store, flaky)
	if j.Status != job.Done {
		t.Errorf("the mesher that failed twice: %s %+v, want done", j.Status, j.Error)
	} else {
		checkResults(t, c, j)
	}
	if n := c.RefusedReads() - base; n < 2 {
		t.Errorf("only %d label map reads refused; the fault did not happen", n)
	}
	t.Logf("figure: mesher failing twice (S3 read of the label map refused) → done %.1f s after upload", time.Since(t0).Seconds())

	refused := c.RefusedReads()
	jb := wait(t, store, broken)
	elapsed := time.Since(t0)
	if jb.Status != job.Failed || jb.Error == nil || jb.Error.Code != "mesh_failed" {
		t.Errorf("the mesher that always fails: %s %+v, want failed with mesh_failed", jb.Status, jb.Error)
	}
	// The give-up must come from the mesher, before the sweep would act.
	if deadline := timing.StuckAfter().Meshing; elapsed >= deadline {
		t.Errorf("gave up after %v, past the sweep's meshing deadline %v", elapsed, deadline)
	}
	if n := c.RefusedReads() - base; n < 2+timing.Attempts {
		t.Errorf("%d label map reads refused in all; want at least 2 + %d tries", n, timing.Attempts)
	}
	t.Logf("figure: mesher always failing → failed/mesh_failed %.1f s after upload, %d further refused reads (IRIS_RETRY_BACKOFF %v in place of the template's %v; maxReceiveCount %d)",
		elapsed.Seconds(), c.RefusedReads()-refused, backoff, timing.RetryBackoff, timing.Attempts)
	settle(t, c)
	noDeadLetters(t, c)
}

// deleteLate is scenario 5: jobs deleted while segmenting and while
// meshing leave nothing behind once their late outputs arrived.
func deleteLate(t *testing.T, c *cloudlocal.Cloud, store *iaws.DynamoStore, issuer string, ct []byte) {
	alice := signIn(t, issuer, "alice", "alice-pw")
	del := func(id string) {
		t.Helper()
		if code := call(t, c, alice, http.MethodDelete, "/api/jobs/"+id, nil, nil); code/100 != 2 {
			t.Fatalf("DELETE /api/jobs/%s: %d", id, code)
		}
	}
	notes := len(c.Endpoint.Notifications())
	// The segmentation runs; its output is held back until the job is
	// deleted.
	var release func()
	seg := submit(t, c, alice, "delete-while-segmenting.nii.gz", ct, func(id string) { release = c.Endpoint.Hold(id) })
	defer release()
	waitStatus(t, store, seg, job.Segmenting)
	del(seg)
	release()
	t.Logf("deleted %s while segmenting", seg)

	// The mesher's reads of the label map are refused until the job is
	// deleted: it stays in meshing, retrying.
	mesh := submit(t, c, alice, "delete-while-meshing.nii.gz", ct, func(id string) { c.FailReads("segmentations/"+id+"/", -1) })
	waitStatus(t, store, mesh, job.Meshing)
	del(mesh)
	c.FailReads("segmentations/"+mesh+"/", 0)
	t.Logf("deleted %s while meshing", mesh)
	segs := c.Endpoint.Invocations()

	t0 := time.Now()
	for _, id := range []string{seg, mesh} {
		if code := call(t, c, alice, http.MethodGet, "/api/jobs/"+id, nil, nil); code != http.StatusNotFound {
			t.Errorf("GET of deleted job %s: %d, want 404", id, code)
		}
	}
	// The late segmentation of the first lands after the deletion; the
	// mesher's retry of the second finds the tombstone.
	if !waitFor(jobTimeout, func() bool {
		return c.Endpoint.Invocations() >= segs && len(keysOf(t, c, seg))+len(keysOf(t, c, mesh)) == 0 && !c.Busy()
	}) {
		t.Errorf("objects left: %v %v", keysOf(t, c, seg), keysOf(t, c, mesh))
	}
	settle(t, c)
	if k := append(keysOf(t, c, seg), keysOf(t, c, mesh)...); len(k) != 0 {
		t.Errorf("after settling, objects of deleted jobs: %v", k)
	}
	t.Logf("figure: deleted jobs' objects all gone %.1f s after the second deletion", time.Since(t0).Seconds())
	noDeadLetters(t, c)
	// One request per job reached the endpoint, whatever the doubled
	// deliveries, so no second request finds the deleted job's input gone
	// and fails to the error topic, which alarms.
	for _, id := range []string{seg, mesh} {
		if n := c.Endpoint.Requests(id); n != 1 {
			t.Errorf("job %s: %d segmentation requests at the endpoint, want exactly 1", id, n)
		}
	}
	late := c.Endpoint.Notifications()[notes:]
	if len(late) != 0 {
		t.Errorf("error notifications for the deleted jobs: %+v", late)
	}
	t.Logf("figure: deleted jobs: %d and %d requests at the endpoint, %d error notification(s)", c.Endpoint.Requests(seg), c.Endpoint.Requests(mesh), len(late))
}

// sweepCost is scenario 7: with 1,000 finished jobs in the table, one
// sweep reads only the unfinished ones.
func sweepCost(t *testing.T, c *cloudlocal.Cloud, store *iaws.DynamoStore, issuer, doneID string) {
	ctx := context.Background()
	// One job stuck for real: created through the API, never uploaded,
	// its record then aged by a day (the index attribute and the
	// document), so the sweep has one unfinished job to find and fail.
	var cr struct {
		Job api.JobView `json:"job"`
	}
	bob := signIn(t, issuer, "bob", "bob-pw")
	if code := call(t, c, bob, http.MethodPost, "/api/jobs", []byte(`{"filename":"never-uploaded.nii.gz","bytes":1000}`), &cr); code != http.StatusCreated {
		t.Fatalf("POST /api/jobs: %d", code)
	}
	stale := cr.Job.ID
	key := map[string]types.AttributeValue{iaws.JobKey: &types.AttributeValueMemberS{Value: stale}}
	rec, err := c.Dynamo.GetItem(ctx, &dynamodb.GetItemInput{TableName: &c.Table, Key: key})
	if err != nil || rec.Item == nil {
		t.Fatalf("record of %s: %v", stale, err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(rec.Item["doc"].(*types.AttributeValueMemberS).Value), &doc); err != nil {
		t.Fatal(err)
	}
	aged := time.Now().Add(-24 * time.Hour).UTC()
	doc["updatedAt"] = aged.Format(time.RFC3339Nano)
	raw, _ := json.Marshal(doc)
	if _, err := c.Dynamo.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &c.Table, Key: key,
		UpdateExpression:          awssdk.String("SET #u = :u, #d = :d"),
		ExpressionAttributeNames:  map[string]string{"#u": iaws.JobUpdated, "#d": "doc"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: aged.Format("2006-01-02T15:04:05.000000000Z")}, ":d": &types.AttributeValueMemberS{Value: string(raw)}},
	}); err != nil {
		t.Fatal(err)
	}
	item, err := c.Dynamo.GetItem(ctx, &dynamodb.GetItemInput{TableName: &c.Table,
		Key: map[string]types.AttributeValue{iaws.JobKey: &types.AttributeValueMemberS{Value: doneID}}})
	if err != nil || item.Item == nil {
		t.Fatalf("record of %s: %v", doneID, err)
	}
	if _, ok := item.Item[iaws.JobUnfinished]; ok {
		t.Fatalf("the done job's record carries %s", iaws.JobUnfinished)
	}
	// 1,000 copies of the finished record, as the status function wrote
	// it, each under its own id.
	const n = 1000
	var batch []types.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := c.Dynamo.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{c.Table: batch}})
			if err != nil {
				t.Fatal(err)
			}
			batch = out.UnprocessedItems[c.Table]
		}
	}
	for i := range n {
		id := fmt.Sprintf("%s-copy%04d", doneID[:min(len(doneID), 40)], i)
		cp := map[string]types.AttributeValue{}
		for k, v := range item.Item {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				v = &types.AttributeValueMemberS{Value: strings.ReplaceAll(s.Value, doneID, id)}
			}
			cp[k] = v
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: cp}})
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
	// Counted by the test's own client, page by page (a Scan page stops
	// at 1 MB), straight from dynalite: not through the counting proxy.
	count := func(in *dynamodb.ScanInput) int {
		n := 0
		p := dynamodb.NewScanPaginator(c.Dynamo, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += int(page.Count)
		}
		return n
	}
	total := count(&dynamodb.ScanInput{TableName: &c.Table, Select: types.SelectCount})
	unfinished := count(&dynamodb.ScanInput{TableName: &c.Table, Select: types.SelectCount,
		FilterExpression: awssdk.String("attribute_exists(#u)"), ExpressionAttributeNames: map[string]string{"#u": iaws.JobUnfinished}})
	if total < n {
		t.Fatalf("the table holds %d records after writing %d", total, n)
	}
	settle(t, c)
	rules := c.Bus.ScheduledRules()
	if len(rules) != 1 {
		t.Fatalf("scheduled rules %v, want the sweep alone", rules)
	}
	before, calls := c.TableReads(), c.Functions["status"].Stats().Invocations
	if err := c.Bus.Tick(ctx, rules[0]); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Minute, func() bool { return c.Functions["status"].Stats().Invocations > calls && !c.Busy() }) {
		t.Fatal("the sweep did not run")
	}
	after := c.TableReads()
	q, s := after["Query"], after["Scan"]
	q.Calls -= before["Query"].Calls
	q.Items -= before["Query"].Items
	q.Scanned -= before["Query"].Scanned
	s.Calls -= before["Scan"].Calls
	if q.Calls == 0 || q.Items < 1 {
		t.Errorf("the sweep made %d Query calls returning %d items; want the stuck job", q.Calls, q.Items)
	}
	if j, err := store.Get(ctx, stale); err != nil || j.Status != job.Failed || j.Error == nil || j.Error.Code != "timeout" {
		t.Errorf("the stuck job after the sweep: %s %+v %v; want failed, timeout", j.Status, j.Error, err)
	}
	if s.Calls != 0 {
		t.Errorf("the sweep made %d Scan(s)", s.Calls)
	}
	if q.Scanned > unfinished {
		t.Errorf("the sweep read %d items; the table holds %d unfinished of %d", q.Scanned, unfinished, total)
	}
	t.Logf("figure: one sweep over %d records (%d unfinished): %d Query call(s) read %d item(s) (ScannedCount), returned %d; %d Scans",
		total, unfinished, q.Calls, q.Scanned, q.Items, s.Calls)
}
