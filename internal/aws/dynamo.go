package aws

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iris-oculus/iris/internal/job"
	"github.com/iris-oculus/iris/internal/ports"
)

// DynamoAPI is the part of *dynamodb.Client that DynamoStore uses.
type DynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// DynamoTableAPI adds what CreateTable needs.
type DynamoTableAPI interface {
	DynamoAPI
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// The job table's schema, shared with the CDK stack.
const (
	JobKey        = "jobId"           // table partition key (S)
	JobOwnerIndex = "owner-createdAt" // GSI: JobOwner (S) + JobCreated (S), projection ALL
	JobOwner      = "owner"
	JobCreated    = "createdAt" // creation time, fixed-width RFC 3339 UTC, + "#" + job id
	JobTTL        = "ttl"       // Job.ExpiresAt in epoch seconds, when set; the table's TTL attribute
)

// Attributes beside the keys: the status and its rank (the item's
// version), the last update time (fixed-width, so it compares as text)
// and the whole record as JSON.
const (
	attrStatus  = "status"
	attrRank    = "rank"
	attrUpdated = "updatedAt"
	attrDoc     = "doc"
)

// sortTime is RFC 3339 with a fixed nine-digit fraction, so that the
// strings sort as the times do.
const sortTime = "2006-01-02T15:04:05.000000000Z"

// advanceAttempts bounds Advance's read-apply-write loop under contention.
const advanceAttempts = 10

// DynamoStore keeps job records in a DynamoDB table (ports.Store).
//
// An item is the job as JSON in one attribute (doc) plus the attributes
// DynamoDB must see: the key, the owner index keys, status and rank, the
// update time and the TTL. The JSON copy round-trips every field of
// job.Job exactly (stage times to the nanosecond, organ lists) without a
// second schema to keep in step, and stays far below the 400 KB item
// limit (a finished job with 117 organs and their STL artifacts takes
// about 40 KB; see BenchmarkDynamoItem).
//
// Create is a put conditioned on attribute_not_exists(jobId). Advance
// reads the item (strongly consistent), applies the update with job.Apply
// and writes it back conditioned on the rank it read (#rank = :old):
// every applied update raises the rank, so the rank is the item's version
// and a concurrent writer makes the condition fail, whereupon Advance
// reads again. No transactions are used.
//
// List queries the owner-createdAt index, newest first. GSI reads are
// eventually consistent on AWS: a job created a moment ago may be missing
// from the list for a moment, never from Get. Unfinished scans the whole
// table with a filter, which reads every item; at scale a sparse GSI on
// the status of unfinished jobs would be cheaper.
//
// DynamoDB deletes items after their ttl only within about two days, and
// until then they are still read; Get and List return them like any other.
type DynamoStore struct {
	client DynamoAPI
	table  string
}

var _ ports.Store = (*DynamoStore)(nil)

// NewDynamoStore returns the store in table, reached through client.
func NewDynamoStore(client DynamoAPI, table string) *DynamoStore {
	return &DynamoStore{client: client, table: table}
}

// CreateTable creates the store's table with the owner index (on-demand
// billing) and waits until it is active: for tests and local development,
// since the CDK stack owns the real table. It does not enable TTL, which
// takes up to an hour on AWS and which dynalite does not support.
func CreateTable(ctx context.Context, client DynamoTableAPI, table string) error {
	str := types.ScalarAttributeTypeS
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   &table,
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: awssdk.String(JobKey), AttributeType: str},
			{AttributeName: awssdk.String(JobOwner), AttributeType: str},
			{AttributeName: awssdk.String(JobCreated), AttributeType: str},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: awssdk.String(JobKey), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: awssdk.String(JobOwnerIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: awssdk.String(JobOwner), KeyType: types.KeyTypeHash},
				{AttributeName: awssdk.String(JobCreated), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", table, err)
	}
	w := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 100 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, 5*time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", table, err)
	}
	return nil
}

// Create implements ports.Store.
func (s *DynamoStore) Create(ctx context.Context, j job.Job) (bool, error) {
	if j.ID == "" || j.Owner == "" || !j.Status.Valid() || j.CreatedAt.IsZero() {
		return false, fmt.Errorf("create job %q: id, owner, a valid status and the creation time are required (owner %q, status %q)", j.ID, j.Owner, j.Status)
	}
	item, err := s.item(j)
	if err != nil {
		return false, err
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &s.table,
		Item:                     item,
		ConditionExpression:      awssdk.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": JobKey},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create job %s in %s: %w", j.ID, s.table, err)
	}
	return true, nil
}

// Get implements ports.Store with a strongly consistent read.
func (s *DynamoStore) Get(ctx context.Context, id string) (job.Job, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            map[string]types.AttributeValue{JobKey: &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: awssdk.Bool(true),
	})
	if err != nil {
		return job.Job{}, fmt.Errorf("get job %s from %s: %w", id, s.table, err)
	}
	if out.Item == nil {
		return job.Job{}, fmt.Errorf("get job %s: %w", id, job.ErrNotFound)
	}
	return decodeJob(out.Item)
}

// Advance implements ports.Store: read, job.Apply, write conditioned on the
// rank read, again on a conflict.
func (s *DynamoStore) Advance(ctx context.Context, id string, u job.Update) (bool, error) {
	for range advanceAttempts {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return false, err
		}
		next, ok := job.Apply(cur, u)
		if !ok {
			return false, nil
		}
		item, err := s.item(next)
		if err != nil {
			return false, err
		}
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 &s.table,
			Item:                      item,
			ConditionExpression:       awssdk.String("#rank = :old"),
			ExpressionAttributeNames:  map[string]string{"#rank": attrRank},
			ExpressionAttributeValues: map[string]types.AttributeValue{":old": number(int64(cur.Status.Rank()))},
		})
		if isConditionFailed(err) {
			continue // someone else moved it (or deleted it): look again
		}
		if err != nil {
			return false, fmt.Errorf("advance job %s to %s: %w", id, u.Status, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("advance job %s to %s: the record changed under %d attempts in a row", id, u.Status, advanceAttempts)
}

// List implements ports.Store over the owner index. limit <= 0 means all.
func (s *DynamoStore) List(ctx context.Context, owner string, limit int, cursor string) ([]job.Job, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 awssdk.String(JobOwnerIndex),
		KeyConditionExpression:    awssdk.String("#owner = :owner"),
		ExpressionAttributeNames:  map[string]string{"#owner": JobOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": &types.AttributeValueMemberS{Value: owner}},
		ScanIndexForward:          awssdk.Bool(false),
	}
	if cursor != "" {
		key, err := decodeCursor(cursor, owner)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = key
	}
	if limit > 0 {
		// One more than asked tells whether a next page exists, so the
		// last page carries no cursor to an empty one.
		in.Limit = awssdk.Int32(int32(min(limit, 1<<20) + 1))
	}
	var jobs []job.Job
	for {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("list jobs of %s: %w", owner, err)
		}
		for _, it := range out.Items {
			j, err := decodeJob(it)
			if err != nil {
				return nil, "", err
			}
			jobs = append(jobs, j)
		}
		switch {
		case limit > 0 && len(jobs) > limit:
			jobs = jobs[:limit]
			last := jobs[limit-1]
			return jobs, encodeCursor(last.ID, owner, createdKey(last)), nil
		case limit > 0 && len(out.LastEvaluatedKey) > 0:
			// A page cut short by DynamoDB's 1 MB limit.
			next, err := cursorOf(out.LastEvaluatedKey)
			return jobs, next, err
		case len(out.LastEvaluatedKey) == 0:
			return jobs, "", nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Unfinished implements ports.Store with a filtered, strongly consistent
// scan of the whole table (see the type's comment).
func (s *DynamoStore) Unfinished(ctx context.Context, updatedBefore time.Time) ([]job.Job, error) {
	in := &dynamodb.ScanInput{
		TableName:                &s.table,
		FilterExpression:         awssdk.String("#rank < :failed AND #updated < :before"),
		ExpressionAttributeNames: map[string]string{"#rank": attrRank, "#updated": attrUpdated},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":failed": number(int64(job.Failed.Rank())),
			":before": &types.AttributeValueMemberS{Value: updatedBefore.UTC().Format(sortTime)},
		},
		ConsistentRead: awssdk.Bool(true),
	}
	var jobs []job.Job
	p := dynamodb.NewScanPaginator(s.client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s for unfinished jobs: %w", s.table, err)
		}
		for _, it := range out.Items {
			j, err := decodeJob(it)
			if err != nil {
				return nil, err
			}
			if !j.Status.Terminal() { // the rank filter says so; the record decides
				jobs = append(jobs, j)
			}
		}
	}
	return jobs, nil
}

// Delete implements ports.Store.
func (s *DynamoStore) Delete(ctx context.Context, id string) error {
	_, err := s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table,
		Key:       map[string]types.AttributeValue{JobKey: &types.AttributeValueMemberS{Value: id}},
	})
	if err != nil {
		return fmt.Errorf("delete job %s from %s: %w", id, s.table, err)
	}
	return nil
}

// item is j as a DynamoDB item.
func (s *DynamoStore) item(j job.Job) (map[string]types.AttributeValue, error) {
	doc, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encode job %s: %w", j.ID, err)
	}
	it := map[string]types.AttributeValue{
		JobKey:      &types.AttributeValueMemberS{Value: j.ID},
		JobOwner:    &types.AttributeValueMemberS{Value: j.Owner},
		JobCreated:  &types.AttributeValueMemberS{Value: createdKey(j)},
		attrStatus:  &types.AttributeValueMemberS{Value: string(j.Status)},
		attrRank:    number(int64(j.Status.Rank())),
		attrUpdated: &types.AttributeValueMemberS{Value: j.UpdatedAt.UTC().Format(sortTime)},
		attrDoc:     &types.AttributeValueMemberS{Value: string(doc)},
	}
	if !j.ExpiresAt.IsZero() {
		it[JobTTL] = number(j.ExpiresAt.Unix())
	}
	return it, nil
}

func createdKey(j job.Job) string { return j.CreatedAt.UTC().Format(sortTime) + "#" + j.ID }

func number(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func decodeJob(it map[string]types.AttributeValue) (job.Job, error) {
	id := "?"
	if v, ok := it[JobKey].(*types.AttributeValueMemberS); ok {
		id = v.Value
	}
	doc, ok := it[attrDoc].(*types.AttributeValueMemberS)
	if !ok {
		return job.Job{}, fmt.Errorf("decode job %s: the item has no %s attribute", id, attrDoc)
	}
	var j job.Job
	if err := json.Unmarshal([]byte(doc.Value), &j); err != nil {
		return job.Job{}, fmt.Errorf("decode job %s: %w", id, err)
	}
	return j, nil
}

func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}

// A cursor is the index position to resume after: base64url of the JSON
// of the three key attributes, all strings.
type cursorKey struct {
	JobID   string `json:"j"`
	Owner   string `json:"o"`
	Created string `json:"c"`
}

func encodeCursor(id, owner, created string) string {
	b, _ := json.Marshal(cursorKey{JobID: id, Owner: owner, Created: created}) // strings only: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func cursorOf(lek map[string]types.AttributeValue) (string, error) {
	var k [3]string
	for i, name := range []string{JobKey, JobOwner, JobCreated} {
		v, ok := lek[name].(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("list jobs: DynamoDB's last evaluated key lacks %s", name)
		}
		k[i] = v.Value
	}
	return encodeCursor(k[0], k[1], k[2]), nil
}

func decodeCursor(c, owner string) (map[string]types.AttributeValue, error) {
	var k cursorKey
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		err = json.Unmarshal(b, &k)
	}
	if err != nil || k.JobID == "" || k.Created == "" || k.Owner != owner {
		return nil, fmt.Errorf("list jobs: %w: %q is not one this store returned for %s", job.ErrBadCursor, c, owner)
	}
	return map[string]types.AttributeValue{
		JobKey:     &types.AttributeValueMemberS{Value: k.JobID},
		JobOwner:   &types.AttributeValueMemberS{Value: k.Owner},
		JobCreated: &types.AttributeValueMemberS{Value: k.Created},
	}, nil
}
