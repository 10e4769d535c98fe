package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iris-oculus/iris/internal/aws/awstest"
	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/job/storetest"
	"github.com/iris-oculus/iris/internal/ports"
)

// newTable creates a fresh job table on client.
func newTable(t *testing.T, client *dynamodb.Client, n *atomic.Int64) string {
	t.Helper()
	name := "jobs-" + strconv.FormatInt(n.Add(1), 10)
	if err := CreateTable(context.Background(), client, name); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestDynamoStore(t *testing.T) {
	client := awstest.StartDynalite(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) ports.Store {
		return NewDynamoStore(client, newTable(t, client, &n))
	})

	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	newJob := func(id, owner string, created time.Time) job.Job {
		return job.Job{ID: id, Owner: owner, Status: job.Created, CreatedAt: created, UpdatedAt: created,
			Stages: map[job.Status]time.Time{job.Created: created}}
	}
	ctx := context.Background()

	t.Run("TableSchema", func(t *testing.T) {
		table := newTable(t, client, &n)
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
		if err != nil {
			t.Fatal(err)
		}
		d := out.Table
		if d.TableStatus != types.TableStatusActive || len(d.KeySchema) != 1 || *d.KeySchema[0].AttributeName != JobKey {
			t.Errorf("table = %s, key %+v", d.TableStatus, d.KeySchema)
		}
		if len(d.GlobalSecondaryIndexes) != 2 {
			t.Fatalf("indexes = %+v", d.GlobalSecondaryIndexes)
		}
		want := map[string][2]string{JobOwnerIndex: {JobOwner, JobCreated}, JobUnfinishedIndex: {JobUnfinished, JobUpdated}}
		for _, gsi := range d.GlobalSecondaryIndexes {
			ks, w := gsi.KeySchema, want[*gsi.IndexName]
			if w[0] == "" || len(ks) != 2 || *ks[0].AttributeName != w[0] || ks[0].KeyType != types.KeyTypeHash ||
				*ks[1].AttributeName != w[1] || ks[1].KeyType != types.KeyTypeRange || gsi.Projection.ProjectionType != types.ProjectionTypeAll {
				t.Errorf("index %s: keys %+v, projection %s", *gsi.IndexName, ks, gsi.Projection.ProjectionType)
			}
		}
	})

	// The sweep's cost: with 1,000 finished (and 10 deleted) jobs in the
	// table and 3 unfinished, Unfinished reads the 3 and nothing else,
	// counted by the items DynamoDB says it evaluated (ScannedCount) over
	// every request the store sent.
	t.Run("UnfinishedReadsOnlyUnfinishedItems", func(t *testing.T) {
		table := newTable(t, client, &n)
		seed := NewDynamoStore(client, table)
		for i := range 1000 {
			j := newJob(fmt.Sprintf("job-fin%04d", i), "alice", t0)
			st, e := job.Done, (*job.Error)(nil)
			if i%2 == 1 {
				st, e = job.Failed, &job.Error{Stage: "x", Code: "y", Message: "z"}
			}
			if ok, err := seed.Create(ctx, j); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if ok, err := seed.Advance(ctx, j.ID, job.Update{Status: st, At: t0.Add(time.Second), Error: e}); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		for i := range 10 {
			id := fmt.Sprintf("job-del%04d", i)
			if ok, err := seed.Create(ctx, newJob(id, "alice", t0)); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if err := seed.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{"job-open01", "job-open02", "job-open03"} {
			if ok, err := seed.Create(ctx, newJob(id, "alice", t0)); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		counter := &countingDynamo{DynamoAPI: client}
		js, err := NewDynamoStore(counter, table).Unfinished(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(js) != 3 {
			t.Fatalf("Unfinished = %d jobs, want 3", len(js))
		}
		if got := counter.scanned.Load(); got != 3 || counter.scans.Load() != 0 {
			t.Errorf("the sweep evaluated %d items in %d queries and %d scans; want the 3 unfinished, no scan",
				got, counter.queries.Load(), counter.scans.Load())
		}
		t.Logf("1,013 items in the table; the sweep evaluated %d items in %d query", counter.scanned.Load(), counter.queries.Load())
	})

	t.Run("ItemAttributes", func(t *testing.T) {
		table := newTable(t, client, &n)
		s := NewDynamoStore(client, table)
		j := newJob("job-ttl001", "alice", t0.Add(123456789*time.Nanosecond))
		j.ExpiresAt = t0.Add(90 * 24 * time.Hour)
		if ok, err := s.Create(ctx, j); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, err := s.Advance(ctx, j.ID, job.Update{Status: job.Accepted, At: t0.Add(time.Minute)}); !ok || err != nil {
			t.Fatal(ok, err)
		}
		out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{JobKey: &types.AttributeValueMemberS{Value: j.ID}}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			JobKey:      "job-ttl001",
			JobOwner:    "alice",
			JobCreated:  "2026-11-27T08:00:00.123456789Z#job-ttl001",
			JobTTL:      strconv.FormatInt(j.ExpiresAt.Unix(), 10),
			attrStatus:  "accepted",
			attrRank:    "2",
			attrUpdated: "2026-11-27T08:01:00.000000000Z",
		}
		for k, v := range want {
			var got string
			switch a := out.Item[k].(type) {
			case *types.AttributeValueMemberS:
				got = a.Value
			case *types.AttributeValueMemberN:
				got = a.Value
			}
			if got != v {
				t.Errorf("attribute %s = %q, want %q", k, got, v)
			}
		}
		back, err := s.Get(ctx, j.ID)
		if err != nil || !back.ExpiresAt.Equal(j.ExpiresAt) || !back.CreatedAt.Equal(j.CreatedAt) || !back.Stages[job.Accepted].Equal(t0.Add(time.Minute)) {
			t.Errorf("Get = %+v, %v", back, err)
		}
		// No TTL attribute without an expiry: DynamoDB would read 0 as 1970.
		k := newJob("job-nottl1", "alice", t0)
		if _, err := s.Create(ctx, k); err != nil {
			t.Fatal(err)
		}
		out, _ = client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: map[string]types.AttributeValue{JobKey: &types.AttributeValueMemberS{Value: k.ID}}})
		if _, ok := out.Item[JobTTL]; ok {
			t.Errorf("a job without expiry has a %s attribute", JobTTL)
		}
	})

	t.Run("ListPages", func(t *testing.T) {
		s := NewDynamoStore(client, newTable(t, client, &n))
		// Same creation time for all: the id breaks the tie.
		for i := range 6 {
			if _, err := s.Create(ctx, newJob(fmt.Sprintf("job-page%02d", i), "alice", t0)); err != nil {
				t.Fatal(err)
			}
		}
		p1, next, err := s.List(ctx, "alice", 3, "")
		if err != nil || len(p1) != 3 || next == "" || p1[0].ID != "job-page05" {
			t.Fatalf("page 1 = %v, %q, %v", ids(p1), next, err)
		}
		p2, next2, err := s.List(ctx, "alice", 3, next)
		if err != nil || len(p2) != 3 || p2[0].ID != "job-page02" || p2[2].ID != "job-page00" {
			t.Fatalf("page 2 = %v, %v", ids(p2), err)
		}
		if next2 != "" {
			t.Errorf("the last full page has a cursor %q to an empty page", next2)
		}
		all, next, err := s.List(ctx, "alice", 0, "")
		if err != nil || len(all) != 6 || next != "" {
			t.Errorf("List without limit = %v, %q, %v", ids(all), next, err)
		}
		for _, bad := range []string{"not base64!", "e30" /* {} */} {
			if _, _, err := s.List(ctx, "alice", 3, bad); err == nil {
				t.Errorf("cursor %q accepted", bad)
			}
		}
		// A cursor is bound to its owner.
		if _, _, err := s.List(ctx, "mallory", 3, p1Cursor(t, s)); err == nil {
			t.Error("alice's cursor accepted for mallory")
		}
	})

	t.Run("CreateRefusesIncompleteJobs", func(t *testing.T) {
		s := NewDynamoStore(client, newTable(t, client, &n))
		for name, j := range map[string]job.Job{
			"no owner":   newJob("job-bad001", "", t0),
			"no id":      newJob("", "alice", t0),
			"no status":  {ID: "job-bad002", Owner: "alice", CreatedAt: t0},
			"no created": {ID: "job-bad003", Owner: "alice", Status: job.Created},
		} {
			if ok, err := s.Create(ctx, j); ok || err == nil {
				t.Errorf("%s: Create = %v, %v", name, ok, err)
			}
		}
	})

	t.Run("MissingTable", func(t *testing.T) {
		s := NewDynamoStore(client, "no-such-table")
		if _, err := s.Get(ctx, "job-x00001"); err == nil || errors.Is(err, job.ErrNotFound) || !strings.Contains(err.Error(), "no-such-table") {
			t.Errorf("Get from a missing table = %v; want an error naming the table, not ErrNotFound", err)
		}
	})
}

func p1Cursor(t *testing.T, s *DynamoStore) string {
	t.Helper()
	_, next, err := s.List(context.Background(), "alice", 1, "")
	if err != nil || next == "" {
		t.Fatalf("List: %q, %v", next, err)
	}
	return next
}

func ids(js []job.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

// BenchmarkDynamoItem encodes and decodes the largest record the
// pipeline writes: a finished job with all 117 TotalSegmentator organs.
func BenchmarkDynamoItem(b *testing.B) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	j := job.Job{ID: "job-bench01", Owner: "alice", Status: job.Done, CreatedAt: t0, UpdatedAt: t0.Add(time.Hour),
		Stages: map[job.Status]time.Time{job.Created: t0, job.Accepted: t0, job.Segmenting: t0, job.Meshing: t0, job.Done: t0}}
	for i := 1; i <= 117; i++ {
		j.Organs = append(j.Organs, job.Organ{Label: i, Name: fmt.Sprintf("organ_%03d_left", i), DisplayName: "Organ (left)", System: "cardiovascular",
			Color: "#aabbcc", VoxelCount: 123456, VolumeMl: 1234.5, MeshVolumeMl: 1230.1, SurfaceAreaCm2: 345.6, Triangles: 20000})
		j.Artifacts = append(j.Artifacts, job.Artifact{Name: fmt.Sprintf("stl/organ_%03d_left.stl", i), Key: fmt.Sprintf("results/job-bench01/stl/organ_%03d_left.stl", i), Bytes: 1 << 20})
	}
	s := NewDynamoStore(nil, "jobs")
	b.ReportAllocs()
	var size int
	for b.Loop() {
		it, err := s.item(j)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeJob(it); err != nil {
			b.Fatal(err)
		}
		size = 0
		for k, v := range it {
			size += len(k)
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				size += len(sv.Value)
			}
		}
	}
	b.ReportMetric(float64(size), "item-bytes")
	if size > 400*1024 {
		b.Fatalf("item is %d bytes, over DynamoDB's 400 KB", size)
	}
}

// countingDynamo counts what the store's reads evaluate.
type countingDynamo struct {
	DynamoAPI
	queries, scans, scanned atomic.Int64
}

func (c *countingDynamo) Query(ctx context.Context, in *dynamodb.QueryInput, opt ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.DynamoAPI.Query(ctx, in, opt...)
	c.queries.Add(1)
	if err == nil {
		c.scanned.Add(int64(out.ScannedCount))
	}
	return out, err
}

// Scan is counted should the store ever scan again (DynamoAPI has no
// Scan; a store that type-asserted for one would be caught here).
func (c *countingDynamo) Scan(ctx context.Context, in *dynamodb.ScanInput, opt ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	c.scans.Add(1)
	return nil, errors.New("scan refused by the test")
}

// TestBackfillUnfinished: items written before the sparse index (no
// unfinished attribute, no version) in every status, and a tombstone. The
// backfill marks the unfinished ones alone, the sweep then finds them,
// a second run marks nothing, and the old items still take updates.
func TestBackfillUnfinished(t *testing.T) {
	client := awstest.StartDynalite(t)
	var n atomic.Int64
	ctx := context.Background()
	table := newTable(t, client, &n)
	store := NewDynamoStore(client, table)
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	statuses := []job.Status{job.Created, job.Accepted, job.Segmenting, job.Meshing, job.Done, job.Failed}
	var want []string
	for i, st := range statuses {
		j := job.Job{ID: fmt.Sprintf("job-old%03d", i), Owner: "alice", Status: st, CreatedAt: t0, UpdatedAt: t0.Add(time.Duration(i) * time.Second),
			Stages: map[job.Status]time.Time{st: t0}}
		item, err := store.item(j)
		if err != nil {
			t.Fatal(err)
		}
		// As the store wrote items before the index and the version.
		delete(item, JobUnfinished)
		delete(item, attrVersion)
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
			t.Fatal(err)
		}
		if !st.Terminal() {
			want = append(want, j.ID)
		}
	}
	if err := store.Delete(ctx, "job-old999"); err != nil {
		t.Fatal(err)
	}
	if js, err := store.Unfinished(ctx, t0.Add(time.Hour)); err != nil || len(js) != 0 {
		t.Fatalf("before the backfill the sweep finds %d jobs (%v); the test would prove nothing", len(js), err)
	}
	r, err := BackfillUnfinished(ctx, client, table)
	if err != nil {
		t.Fatal(err)
	}
	if r.Marked != len(want) || r.Moved != 0 {
		t.Errorf("backfill %+v, want %d marked", r, len(want))
	}
	js, err := store.Unfinished(ctx, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(js))
	for i, j := range js {
		got[i] = j.ID
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("after the backfill the sweep finds %v, want %v", got, want)
	}
	if r, err := BackfillUnfinished(ctx, client, table); err != nil || r.Marked != 0 {
		t.Errorf("second run %+v, %v; want nothing marked", r, err)
	}
	// The old items take updates (matched on their rank), and finishing
	// one takes it out of the index.
	if ok, err := store.Advance(ctx, "job-old002", job.Update{Status: job.Done, At: t0.Add(time.Minute)}); !ok || err != nil {
		t.Fatalf("Advance of an old item = %v, %v", ok, err)
	}
	if js, _ := store.Unfinished(ctx, t0.Add(time.Hour)); len(js) != len(want)-1 {
		t.Errorf("after finishing one, the sweep finds %d, want %d", len(js), len(want)-1)
	}
	if _, held, err := store.Claim(ctx, "job-old001", job.Request{By: "m", At: t0}); !held || err != nil {
		t.Errorf("Claim of an old accepted item = %v, %v", held, err)
	}
}
