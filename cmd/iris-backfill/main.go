// Command iris-backfill gives the unfinished jobs of a job table written
// before the sparse unfinished-updatedAt index their "unfinished"
// attribute, so that the status stage's sweep finds them
// (aws.BackfillUnfinished). Run it once after deploying this version over
// an older stack:
//
//	go run ./cmd/iris-backfill -table <the stack's TableName output>
//
// It uses the usual AWS credentials and region (AWS_PROFILE, AWS_REGION,
// AWS_ENDPOINT_URL for an emulator). It is idempotent: a second run marks
// nothing. It is a command rather than a deploy-time custom resource
// because it is needed once per old table, and a sixth Lambda kept in
// every stack for it would be attack surface and cost forever; a table
// created by this version needs no backfill at all.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	iaws "github.com/iris-oculus/iris/internal/aws"
)

func main() {
	table := flag.String("table", "", "the job table's name (the stack's TableName output)")
	flag.Parse()
	if *table == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: iris-backfill -table NAME")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iris-backfill: load AWS configuration:", err)
		os.Exit(1)
	}
	r, err := iaws.BackfillUnfinished(ctx, dynamodb.NewFromConfig(cfg), *table)
	fmt.Printf("scanned %d items; marked %d unfinished jobs; %d changed meanwhile and were left to their writer\n", r.Scanned, r.Marked, r.Moved)
	if err != nil {
		fmt.Fprintln(os.Stderr, "iris-backfill:", err)
		os.Exit(1)
	}
}
