package events

// Targets of the routing rules: each names a consumer that both platforms
// provide (a Lambda or SQS queue on AWS, a handler locally).
const (
	TargetIngest = "ingest" // S3 uploads → ingest
	TargetMesher = "mesher" // segmentation output → mesh queue → mesher
	TargetStatus = "status" // pipeline events, failure objects, the sweep → status
)

// Rule is one routing rule: events matching Pattern go to Target.
type Rule struct {
	Name    string
	Target  string
	Pattern map[string]any // EventBridge event pattern, JSON-ready
}

// Rules is the routing table for the bucket named bucket.
func Rules(bucket string) []Rule {
	created := func(prefix string) map[string]any {
		return map[string]any{
			"source":      []any{SourceS3},
			"detail-type": []any{ObjectCreated},
			"detail": map[string]any{
				"bucket": map[string]any{"name": []any{bucket}},
				"object": map[string]any{"key": []any{map[string]any{"prefix": prefix}}},
			},
		}
	}
	return []Rule{
		{Name: "uploads-to-ingest", Target: TargetIngest, Pattern: created(PrefixUploads)},
		{Name: "segmentations-to-mesher", Target: TargetMesher, Pattern: created(PrefixSegmentations)},
		// The label map's arrival is also the moment meshing starts.
		{Name: "segmentations-to-status", Target: TargetStatus, Pattern: created(PrefixSegmentations)},
		{Name: "pipeline-events-to-status", Target: TargetStatus, Pattern: map[string]any{
			"source":      []any{Source},
			"detail-type": []any{JobAccepted, JobRejected, SegmentationStarted, MeshesReady, JobFailed},
		}},
		{Name: "segmentation-failures-to-status", Target: TargetStatus, Pattern: created(PrefixSegmentationFailures)},
	}
}
