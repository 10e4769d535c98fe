package aws

import (
	"context"
	"errors"
	"fmt"
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
		if len(d.GlobalSecondaryIndexes) != 1 {
			t.Fatalf("indexes = %+v", d.GlobalSecondaryIndexes)
		}
		gsi := d.GlobalSecondaryIndexes[0]
		ks := gsi.KeySchema
		if *gsi.IndexName != JobOwnerIndex || len(ks) != 2 || *ks[0].AttributeName != JobOwner || ks[0].KeyType != types.KeyTypeHash ||
			*ks[1].AttributeName != JobCreated || ks[1].KeyType != types.KeyTypeRange || gsi.Projection.ProjectionType != types.ProjectionTypeAll {
			t.Errorf("index %s: keys %+v, projection %s", *gsi.IndexName, ks, gsi.Projection.ProjectionType)
		}
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
