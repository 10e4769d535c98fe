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
	// JobUnfinishedIndex is a sparse GSI: JobUnfinished (S) + JobUpdated
	// (S), projection ALL. JobUnfinished is present, always with the
	// value "1", only while the job is in an unfinished status, so the
	// index holds the unfinished jobs alone and the sweep's Query reads
	// nothing else. (One partition key value: the index sees a write per
	// status change, far below a partition's 1,000 writes a second.)
	JobUnfinishedIndex = "unfinished-updatedAt"
	JobUnfinished      = "unfinished"
	JobUpdated         = "updatedAt" // last update, fixed-width RFC 3339 UTC
	// JobDeleted marks a tombstone (BOOL true): the item of a deleted
	// job, with only the key, this and the TTL (job.TombstoneTTL on).
	JobDeleted = "deleted"
)

// Attributes beside the keys: the status and its rank (the item's
// version), the last update time (fixed-width, so it compares as text)
// and the whole record as JSON.
const (
	attrStatus  = "status"
	attrRank    = "rank"
	attrUpdated = JobUpdated
	attrDoc     = "doc"
	// attrVersion counts the item's writes: every read-modify-write is
	// conditioned on the count it read, so that a Claim (which leaves
	// the rank alone) and an Advance never overwrite one another.
	attrVersion = "ver"
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
// Create is a put conditioned on attribute_not_exists(jobId). Advance and
// Claim read the item (strongly consistent), apply the change with
// job.Apply or job.Claim and write it back conditioned on the version
// they read (ver, a count of the item's writes): a concurrent writer makes
// the condition fail, whereupon they read again. (Items written before
// the version existed are matched on their rank, which every Advance
// raised.) No transactions are used.
//
// List queries the owner-createdAt index, newest first. GSI reads are
// eventually consistent on AWS: a job created a moment ago may be missing
// from the list for a moment, never from Get. Unfinished queries the
// sparse unfinished-updatedAt index, which holds only unfinished jobs, so
// the sweep's cost follows the jobs in flight, not every job ever kept;
// each job it returns is read again by Advance before it is failed.
//
// Delete puts a tombstone in the job's place: the key, JobDeleted and a
// ttl job.TombstoneTTL on. It has no owner or unfinished attribute, so
// neither index holds it. DynamoDB deletes items after their ttl only
// within about two days, and until then they are still read; Get and List
// return them like any other.
type DynamoStore struct {
	client DynamoAPI
	table  string
}

var _ ports.Store = (*DynamoStore)(nil)

// NewDynamoStore returns the store in table, reached through client.
func NewDynamoStore(client DynamoAPI, table string) *DynamoStore {
	return &DynamoStore{client: client, table: table}
}

// CreateTable creates the store's table with its two indexes (on-demand
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
			{AttributeName: awssdk.String(JobUnfinished), AttributeType: str},
			{AttributeName: awssdk.String(JobUpdated), AttributeType: str},
		},
		KeySchema: []types.KeySchemaElement{{AttributeName: awssdk.String(JobKey), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: awssdk.String(JobOwnerIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: awssdk.String(JobOwner), KeyType: types.KeyTypeHash},
				{AttributeName: awssdk.String(JobCreated), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}, {
			IndexName: awssdk.String(JobUnfinishedIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: awssdk.String(JobUnfinished), KeyType: types.KeyTypeHash},
				{AttributeName: awssdk.String(JobUpdated), KeyType: types.KeyTypeRange},
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
	j, _, err := s.get(ctx, id)
	return j, err
}

// get returns the job and its item.
func (s *DynamoStore) get(ctx context.Context, id string) (job.Job, map[string]types.AttributeValue, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            map[string]types.AttributeValue{JobKey: &types.AttributeValueMemberS{Value: id}},
		ConsistentRead: awssdk.Bool(true),
	})
	if err != nil {
		return job.Job{}, nil, fmt.Errorf("get job %s from %s: %w", id, s.table, err)
	}
	if out.Item == nil {
		return job.Job{}, nil, fmt.Errorf("get job %s: %w", id, job.ErrNotFound)
	}
	if isTombstone(out.Item) {
		return job.Job{}, nil, fmt.Errorf("get job %s: %w", id, job.ErrDeleted)
	}
	j, err := decodeJob(out.Item)
	return j, out.Item, err
}

// Advance implements ports.Store: read, job.Apply, write conditioned on the
// version read, again on a conflict.
func (s *DynamoStore) Advance(ctx context.Context, id string, u job.Update) (bool, error) {
	applied := false
	err := s.update(ctx, id, func(cur job.Job) (job.Job, bool) {
		next, ok := job.Apply(cur, u)
		applied = ok
		return next, ok
	})
	if err != nil {
		return false, fmt.Errorf("advance job %s to %s: %w", id, u.Status, err)
	}
	return applied, nil
}

// Claim implements ports.Store: read, job.Claim, write conditioned on the
// version read, again on a conflict.
func (s *DynamoStore) Claim(ctx context.Context, id string, r job.Request) (job.Job, bool, error) {
	var out job.Job
	held := false
	err := s.update(ctx, id, func(cur job.Job) (job.Job, bool) {
		out, held = job.Claim(cur, r)
		return out, held
	})
	if err != nil {
		return job.Job{}, false, fmt.Errorf("claim job %s: %w", id, err)
	}
	return out, held, nil
}

// update reads the job (strongly consistent), asks change for the next
// record, and writes it if change says so, conditioned on the item's
// version being the one read; on a conflict it reads again. Items written
// before versions existed are matched on their rank and the absence of a
// version.
func (s *DynamoStore) update(ctx context.Context, id string, change func(job.Job) (job.Job, bool)) error {
	for range advanceAttempts {
		cur, it, err := s.get(ctx, id)
		if err != nil {
			return err
		}
		next, ok := change(cur)
		if !ok {
			return nil
		}
		item, err := s.item(next)
		if err != nil {
			return err
		}
		in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
		if v, ok := it[attrVersion].(*types.AttributeValueMemberN); ok {
			n, err := strconv.ParseInt(v.Value, 10, 64)
			if err != nil {
				return fmt.Errorf("job %s: version %q: %w", id, v.Value, err)
			}
			item[attrVersion] = number(n + 1)
			in.ConditionExpression = awssdk.String("#ver = :ver")
			in.ExpressionAttributeNames = map[string]string{"#ver": attrVersion}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":ver": v}
		} else {
			in.ConditionExpression = awssdk.String("attribute_not_exists(#ver) AND #rank = :old")
			in.ExpressionAttributeNames = map[string]string{"#ver": attrVersion, "#rank": attrRank}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":old": number(int64(cur.Status.Rank()))}
		}
		_, err = s.client.PutItem(ctx, in)
		if isConditionFailed(err) {
			continue // someone else wrote it (or deleted it): look again
		}
		return err
	}
	return fmt.Errorf("the record changed under %d attempts in a row", advanceAttempts)
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

// Unfinished implements ports.Store with a Query of the sparse
// unfinished-updatedAt index (see the type's comment).
func (s *DynamoStore) Unfinished(ctx context.Context, updatedBefore time.Time) ([]job.Job, error) {
	in := &dynamodb.QueryInput{
		TableName:                &s.table,
		IndexName:                awssdk.String(JobUnfinishedIndex),
		KeyConditionExpression:   awssdk.String("#unfinished = :yes AND #updated < :before"),
		ExpressionAttributeNames: map[string]string{"#unfinished": JobUnfinished, "#updated": JobUpdated},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":yes":    &types.AttributeValueMemberS{Value: unfinishedYes},
			":before": &types.AttributeValueMemberS{Value: updatedBefore.UTC().Format(sortTime)},
		},
	}
	var jobs []job.Job
	p := dynamodb.NewQueryPaginator(s.client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s for unfinished jobs: %w", s.table, err)
		}
		for _, it := range out.Items {
			if isTombstone(it) {
				continue
			}
			j, err := decodeJob(it)
			if err != nil {
				return nil, err
			}
			if !j.Status.Terminal() { // the index says so; the record decides
				jobs = append(jobs, j)
			}
		}
	}
	job.SortNewestFirst(jobs)
	return jobs, nil
}

// Delete implements ports.Store: a tombstone replaces the item.
func (s *DynamoStore) Delete(ctx context.Context, id string) error {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table,
		Item: map[string]types.AttributeValue{
			JobKey:     &types.AttributeValueMemberS{Value: id},
			JobDeleted: &types.AttributeValueMemberBOOL{Value: true},
			JobTTL:     number(time.Now().Add(job.TombstoneTTL).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("delete job %s from %s: %w", id, s.table, err)
	}
	return nil
}

// unfinishedYes is JobUnfinished's one value.
const unfinishedYes = "1"

func isTombstone(it map[string]types.AttributeValue) bool {
	v, ok := it[JobDeleted].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
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
		attrVersion: number(1),
	}
	if !j.ExpiresAt.IsZero() {
		it[JobTTL] = number(j.ExpiresAt.Unix())
	}
	if !j.Status.Terminal() {
		it[JobUnfinished] = &types.AttributeValueMemberS{Value: unfinishedYes}
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
