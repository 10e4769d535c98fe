package infra

import (
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// The status function's log lines that metric filters count
// (internal/pipeline/status/status.go writes them, as JSON, through slog):
// StuckJobMessage when the sweep fails a stuck job, AdvancedMessage when
// an event moves a job on. Both carry "status" and, for a failure, "code".
const (
	StuckJobMessage = "status: failed a stuck job"
	AdvancedMessage = "status: advanced"
)

// MetricNamespace holds the pipeline's own metrics, from the metric
// filters below.
const MetricNamespace = "IRIS"

// The pipeline's own metrics.
const (
	MetricJobsAccepted    = "JobsAccepted"    // jobs whose upload ingest accepted
	MetricJobsDone        = "JobsDone"        // jobs that ended with their models
	MetricJobsFailed      = "JobsFailed"      // jobs that failed, by dimension Code (the failure code)
	MetricStuckJobs       = "StuckJobsFailed" // jobs the sweep failed as stuck
	MetricMesherMaxMemory = "MesherMaxMemoryMB"
	DimensionCode         = "Code"
)

// API5xxPercent is the share of API requests answered 5xx, over
// five minutes, above which the API5xxRate alarm fires; the alarm counts
// only periods with at least API5xxMinRequests requests, so that one
// error at night pages no one.
const (
	API5xxPercent     = 5
	API5xxMinRequests = 20
)

// GB is the unit of Props.BucketAlarmGB.
const GB = 1e9

// alarmDescription is an alarm's description: what happened, then what
// to do. Every alarm's description has the " To do: " that the tests and
// an operator look for.
func alarmDescription(what, todo string) string { return what + ". To do: " + todo }

// alarms watches what needs a person: anything in a dead-letter queue,
// function errors, segmentation failures, an endpoint that cannot take
// work, queues that stop draining, jobs the sweep failed as stuck, an API
// answering 5xx to more than API5xxPercent of its requests, and a bucket
// grown past Props.BucketAlarmGB. All go to the alarms topic; the
// dashboard shows them all.
func (b *builder) alarms() {
	b.alarmsTopic = awssns.NewTopic(b.stack, jsii.String("Alarms"), &awssns.TopicProps{
		DisplayName: jsii.String("IRIS alarms"),
		EnforceSSL:  jsii.Bool(true),
	})
	if b.p.AlarmEmail != "" {
		for _, t := range []awssns.Topic{b.alarmsTopic, b.errorsTopic} {
			t.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(b.p.AlarmEmail), nil))
		}
	}
	action := awscloudwatchactions.NewSnsAction(b.alarmsTopic)
	add := func(id string, props *awscloudwatch.AlarmProps) {
		if props.ComparisonOperator == "" {
			props.ComparisonOperator = awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
		}
		props.EvaluationPeriods = jsii.Number(1)
		props.TreatMissingData = awscloudwatch.TreatMissingData_NOT_BREACHING
		a := awscloudwatch.NewAlarm(b.stack, jsii.String(id), props)
		a.AddAlarmAction(action)
		b.alarmList = append(b.alarmList, a)
	}
	alarm := func(id, desc string, m awscloudwatch.IMetric, threshold float64) {
		add(id, &awscloudwatch.AlarmProps{AlarmDescription: jsii.String(desc), Metric: m, Threshold: jsii.Number(threshold)})
	}
	five := awscdk.Duration_Minutes(jsii.Number(5))
	sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
	maximum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}

	for _, id := range sortedKeys(b.dlqs) {
		q := b.dlqs[id]
		alarm(id+"NotEmpty", alarmDescription("Messages are in the dead-letter queue "+id,
			"read them (SQS console, or aws sqs receive-message), fix the cause from the failing function's log, then redrive them (infra/README.md, Operating)"),
			q.MetricApproximateNumberOfMessagesVisible(maximum), 1)
	}
	for _, name := range functionNames {
		alarm(title(name)+"Errors", alarmDescription("The "+name+" function failed",
			"read its log group for the error line (level ERROR) and the job id it names; what it could not do waits in a dead-letter queue or is retried"),
			b.functions[name].MetricErrors(sum), 1)
	}
	alarm("SegmentationFailures", alarmDescription("Segmentations failed on the endpoint",
		"read the failure bodies under segmentation-failures/ and the endpoint's log group /aws/sagemaker/Endpoints/ENDPOINT; the jobs are already failed with the reason"),
		b.endpointMetric("InvocationFailures", "Sum", true), 1)
	alarm("SegmentationQueueAge", alarmDescription("A segmentation request has waited an hour: the endpoint cannot get an instance",
		"check the SageMaker quota for the instance type (Service Quotas) and the endpoint's events; raise the quota or choose another instanceType"),
		b.endpointMetric("ApproximateAgeOfOldestRequest", "Maximum", false), 3600)
	alarm("JobsQueueAge", alarmDescription("The jobs queue has not drained for 15 minutes: dispatch is failing or throttled",
		"read the dispatch function's log; check the endpoint is InService"),
		b.jobs.MetricApproximateAgeOfOldestMessage(maximum), 900)
	alarm("MeshQueueAge", alarmDescription("The mesh queue has not drained for an hour: the mesher is failing or at its concurrency cap",
		"read the mesher's log (a timeout or out-of-memory shows there); raise mesherMemoryMB or mesherConcurrency"),
		b.mesh.MetricApproximateAgeOfOldestMessage(maximum), 3600)

	statusLogs := b.functions[fnStatus].LogGroup()
	stuck := b.metricFilter("StuckJobsFilter", statusLogs, MetricStuckJobs,
		awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(StuckJobMessage)), nil, "1")
	alarm("StuckJobs", alarmDescription("The sweep failed jobs that were stuck past their deadline: a stage is not making progress",
		"find the job ids in the status function's log (\""+StuckJobMessage+"\"), and the stage each was stuck in (\"was\"); read that stage's log"),
		stuck.Metric(sum), 1)

	// The API's 5xx share, as metric math over the same five minutes.
	rate := b.api5xxRate()
	add("Api5xxRate", &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(alarmDescription(
			fmt.Sprintf("More than %d %% of the API's requests (at least %d in 5 minutes) were answered 5xx", API5xxPercent, API5xxMinRequests),
			"read the API's access log (ApiAccessLogs: status, integrationError) and the api function's log; a 503 names the store or bucket that failed")),
		Metric:             rate,
		Threshold:          jsii.Number(API5xxPercent),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
	})
	add("BucketSize", &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String(alarmDescription(
			fmt.Sprintf("The pipeline's bucket holds more than %d GB", b.p.BucketAlarmGB),
			"see which prefix grew (S3 console, Metrics, or Storage Lens); objects expire after 90 days, so a steady rise means more jobs: raise bucketAlarmGB, or shorten the retention")),
		Metric:    b.bucketSize(),
		Threshold: jsii.Number(float64(b.p.BucketAlarmGB) * GB),
	})
}

// api5xxRate is the percentage of API requests answered 5xx over five
// minutes, 0 when there were fewer than API5xxMinRequests.
func (b *builder) api5xxRate() awscloudwatch.MathExpression {
	five := awscdk.Duration_Minutes(jsii.Number(5))
	sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf("IF(requests >= %d, 100 * errors / requests, 0)", API5xxMinRequests)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"requests": b.httpAPI.MetricCount(sum),
			"errors":   b.httpAPI.MetricServerError(sum),
		},
		Label:  jsii.String("API 5xx, % of requests"),
		Period: five,
	})
}

// bucketSize is the data bucket's size in bytes, all versions of its
// Standard objects, which S3 reports once a day.
func (b *builder) bucketSize() awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  jsii.String("AWS/S3"),
		MetricName: jsii.String("BucketSizeBytes"),
		DimensionsMap: &map[string]*string{
			"BucketName":  b.bucket.BucketName(),
			"StorageType": jsii.String("StandardStorage"),
		},
		Statistic: jsii.String("Maximum"),
		Period:    awscdk.Duration_Days(jsii.Number(1)),
	})
}

// metricFilter counts the lines of logs that match pattern as metric
// name in MetricNamespace, with the given dimensions (JSON selectors).
func (b *builder) metricFilter(id string, logs awslogs.ILogGroup, name string, pattern awslogs.IFilterPattern, dims map[string]string, value string) awslogs.MetricFilter {
	props := &awslogs.MetricFilterProps{
		LogGroup:        logs,
		FilterPattern:   pattern,
		MetricNamespace: jsii.String(MetricNamespace),
		MetricName:      jsii.String(name),
		MetricValue:     jsii.String(value),
	}
	if len(dims) > 0 {
		d := map[string]*string{}
		for k, v := range dims {
			d[k] = jsii.String(v)
		}
		props.Dimensions = &d
	}
	return awslogs.NewMetricFilter(b.stack, jsii.String(id), props)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
