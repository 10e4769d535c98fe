package infra

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"
)

// StuckJobMessage is the log message of the status sweep failing a stuck
// job (internal/pipeline/status.go); a metric filter counts its lines.
const StuckJobMessage = "status: failed a stuck job"

// MetricNamespace holds the pipeline's own metrics.
const MetricNamespace = "IRIS"

// alarms watches what needs a person: anything in a dead-letter queue,
// function errors, segmentation failures, an endpoint that cannot take
// work, queues that stop draining, and jobs the sweep failed as stuck.
// All go to the alarms topic.
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
	alarm := func(id, desc string, m awscloudwatch.IMetric, threshold float64) {
		a := awscloudwatch.NewAlarm(b.stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String(desc),
			Metric:             m,
			Threshold:          jsii.Number(threshold),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			EvaluationPeriods:  jsii.Number(1),
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		a.AddAlarmAction(action)
	}
	five := awscdk.Duration_Minutes(jsii.Number(5))

	for _, id := range sortedKeys(b.dlqs) {
		q := b.dlqs[id]
		alarm(id+"NotEmpty", "Messages are in the dead-letter queue "+id+": inspect them, fix the cause, redrive",
			q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}), 1)
	}
	for _, name := range functionNames {
		alarm(title(name)+"Errors", "The "+name+" function failed",
			b.functions[name].MetricErrors(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), 1)
	}
	alarm("SegmentationFailures", "Segmentations failed on the endpoint (see segmentation-failures/ and the endpoint's logs)",
		b.endpointMetric("InvocationFailures", "Sum", true), 1)
	alarm("SegmentationQueueAge", "A segmentation request has waited an hour: the endpoint cannot get an instance (quota? capacity?)",
		b.endpointMetric("ApproximateAgeOfOldestRequest", "Maximum", false), 3600)
	alarm("JobsQueueAge", "The jobs queue has not drained for 15 minutes: dispatch is failing or throttled",
		b.jobs.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}), 900)
	alarm("MeshQueueAge", "The mesh queue has not drained for an hour: the mesher is failing or at its concurrency cap",
		b.mesh.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}), 3600)

	filter := awslogs.NewMetricFilter(b.stack, jsii.String("StuckJobsFilter"), &awslogs.MetricFilterProps{
		LogGroup:        b.functions[fnStatus].LogGroup(),
		FilterPattern:   awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(StuckJobMessage)),
		MetricNamespace: jsii.String(MetricNamespace),
		MetricName:      jsii.String("StuckJobsFailed"),
		MetricValue:     jsii.String("1"),
	})
	alarm("StuckJobs", "The sweep failed jobs that were stuck past their deadline: a stage is not making progress",
		filter.Metric(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}), 1)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
