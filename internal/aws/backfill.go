package aws

import (
	"context"
	"fmt"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/iris-oculus/iris/internal/job"
)

// DynamoBackfillAPI is the part of *dynamodb.Client that
// BackfillUnfinished uses.
type DynamoBackfillAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// BackfillResult says what BackfillUnfinished did.
type BackfillResult struct {
	Scanned int // items read
	Marked  int // unfinished jobs given the JobUnfinished attribute
	Moved   int // jobs that changed between the scan and the update (left alone: their writer set the attribute right)
}

// BackfillUnfinished gives the JobUnfinished attribute to the unfinished
// jobs stored before the sparse unfinished-updatedAt index existed, so
// that the sweep (Unfinished) finds them. It is a one-off for a table
// written by an older version and idempotent: it scans the table once for
// items with no JobUnfinished, no tombstone mark and a rank below
// failed's, and sets the attribute on each with an update conditioned on
// the rank it read and the attribute's absence, so that a job finished or
// deleted meanwhile is left as its writer left it. Running it again marks
// nothing.
func BackfillUnfinished(ctx context.Context, client DynamoBackfillAPI, table string) (BackfillResult, error) {
	var r BackfillResult
	in := &dynamodb.ScanInput{
		TableName:                &table,
		FilterExpression:         awssdk.String("attribute_not_exists(#unfinished) AND attribute_not_exists(#deleted) AND #rank < :failed"),
		ProjectionExpression:     awssdk.String("#id, #rank"),
		ExpressionAttributeNames: map[string]string{"#unfinished": JobUnfinished, "#deleted": JobDeleted, "#rank": attrRank, "#id": JobKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":failed": number(int64(job.Failed.Rank())),
		},
		ConsistentRead: awssdk.Bool(true),
	}
	p := dynamodb.NewScanPaginator(client, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return r, fmt.Errorf("backfill %s: scan: %w", table, err)
		}
		r.Scanned += int(out.ScannedCount)
		for _, it := range out.Items {
			id, ok := it[JobKey].(*types.AttributeValueMemberS)
			rank, ok2 := it[attrRank].(*types.AttributeValueMemberN)
			if !ok || !ok2 {
				return r, fmt.Errorf("backfill %s: an item without %s or %s: %v", table, JobKey, attrRank, it)
			}
			_, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:           &table,
				Key:                 map[string]types.AttributeValue{JobKey: id},
				UpdateExpression:    awssdk.String("SET #unfinished = :yes"),
				ConditionExpression: awssdk.String("#rank = :rank AND attribute_not_exists(#unfinished) AND attribute_not_exists(#deleted)"),
				ExpressionAttributeNames: map[string]string{
					"#unfinished": JobUnfinished, "#rank": attrRank, "#deleted": JobDeleted,
				},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":yes":  &types.AttributeValueMemberS{Value: unfinishedYes},
					":rank": rank,
				},
			})
			switch {
			case isConditionFailed(err):
				r.Moved++
			case err != nil:
				return r, fmt.Errorf("backfill %s: mark job %s: %w", table, id.Value, err)
			default:
				r.Marked++
			}
		}
	}
	return r, nil
}
