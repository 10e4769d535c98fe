package infra

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// DashboardSections are the dashboard's rows, top to bottom: the
// pipeline in the order a job goes through it, then the API and the
// storage behind it. Each row starts with a text widget holding its
// title.
var DashboardSections = []string{
	"1. Uploads and jobs accepted",
	"2. Jobs queue and dispatch",
	"3. GPU endpoint: backlog, instances, model latency, failures",
	"4. Mesh queue and mesher",
	"5. Jobs done and failed",
	"6. HTTP API",
	"7. Job table and bucket",
	"Alarms",
}

// lambdaReportColumns name the fields of the REPORT line Lambda writes
// (in its text log format) after each invocation: "REPORT RequestId: ID
// Duration: 1.2 ms Billed Duration: 2 ms Memory Size: 3008 MB Max Memory
// Used: 900 MB", and perhaps "Init Duration: …".
var lambdaReportColumns = []string{"type", "requestIdLabel", "requestId", "durationLabel", "duration", "durationUnit",
	"billedLabel", "billedDurationLabel", "billedDuration", "billedUnit", "memoryLabel", "memorySizeLabel", "memorySize", "memoryUnit",
	"maxLabel", "maxMemoryLabel", "maxUsedLabel", "maxMemoryUsed", "maxMemoryUnit", "..."}

// dashboard makes the operator's dashboard, named after the stack. Every
// widget takes its metrics from the constructs (queues, functions, the
// endpoint, the API, the table) or from the metric filters defined here
// and in alarms.go, so a renamed metric fails a test rather than showing
// an empty graph.
func (b *builder) dashboard() {
	statusLogs := b.functions[fnStatus].LogGroup()
	advanced := func(status string) awslogs.IFilterPattern {
		return awslogs.FilterPattern_All(
			awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(AdvancedMessage)),
			awslogs.FilterPattern_StringValue(jsii.String("$.status"), jsii.String("="), jsii.String(status)))
	}
	accepted := b.metricFilter("JobsAcceptedFilter", statusLogs, MetricJobsAccepted, advanced("accepted"), nil, "1")
	done := b.metricFilter("JobsDoneFilter", statusLogs, MetricJobsDone, advanced("done"), nil, "1")
	b.metricFilter("JobsFailedFilter", statusLogs, MetricJobsFailed, awslogs.FilterPattern_All(
		awslogs.FilterPattern_Any(
			awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(AdvancedMessage)),
			awslogs.FilterPattern_StringValue(jsii.String("$.msg"), jsii.String("="), jsii.String(StuckJobMessage))),
		awslogs.FilterPattern_StringValue(jsii.String("$.status"), jsii.String("="), jsii.String("failed"))),
		map[string]string{DimensionCode: "$.code"}, "1")
	mesherMemory := b.metricFilter("MesherMemoryFilter", b.functions[fnMesher].LogGroup(), MetricMesherMaxMemory,
		awslogs.FilterPattern_SpaceDelimited(*jsii.Strings(lambdaReportColumns...)...).WhereString(jsii.String("type"), jsii.String("="), jsii.String("REPORT")),
		nil, "$maxMemoryUsed")

	five := awscdk.Duration_Minutes(jsii.Number(5))
	opt := func(stat, label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String(stat), Label: jsii.String(label)}
	}
	graph := func(title string, width float64, left []awscloudwatch.IMetric, right ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		p := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &left}
		if len(right) > 0 {
			p.Right = &right
		}
		return awscloudwatch.NewGraphWidget(p)
	}
	fn := func(name string) []awscloudwatch.IMetric {
		f := b.functions[name]
		return []awscloudwatch.IMetric{f.MetricInvocations(opt("Sum", name+" invocations")), f.MetricErrors(opt("Sum", name+" errors")),
			f.MetricThrottles(opt("Sum", name+" throttles"))}
	}
	duration := func(name string) []awscloudwatch.IMetric {
		f := b.functions[name]
		return []awscloudwatch.IMetric{f.MetricDuration(opt("p50", name+" p50 ms")), f.MetricDuration(opt("p90", name+" p90 ms")),
			f.MetricDuration(opt("Maximum", name+" max ms"))}
	}
	queue := func(label string, q interface {
		MetricApproximateNumberOfMessagesVisible(*awscloudwatch.MetricOptions) awscloudwatch.Metric
		MetricApproximateAgeOfOldestMessage(*awscloudwatch.MetricOptions) awscloudwatch.Metric
	}) []awscloudwatch.IMetric {
		return []awscloudwatch.IMetric{q.MetricApproximateNumberOfMessagesVisible(opt("Maximum", label+" messages")),
			q.MetricApproximateAgeOfOldestMessage(opt("Maximum", label+" oldest, s"))}
	}
	endpoint := func(name, stat, label string, variant bool) awscloudwatch.IMetric {
		return b.endpointMetric(name, stat, variant).With(&awscloudwatch.MetricOptions{Label: jsii.String(label), Period: five})
	}
	// The endpoint's instances publish their utilization once a minute
	// each, so the sample count over one minute is the number of
	// instances running (SageMaker's asynchronous inference FAQ).
	instanceMetric := func(name, stat, label string, period awscdk.Duration) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("/aws/sagemaker/Endpoints"), MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{"EndpointName": b.endpoint.AttrEndpointName(), "VariantName": jsii.String(b.variant)},
			Statistic:     jsii.String(stat), Period: period, Label: jsii.String(label),
		})
	}
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	ours := func(m awscloudwatch.Metric, label string) awscloudwatch.IMetric {
		return m.With(opt("Sum", label))
	}
	dlqs := []awscloudwatch.IMetric{}
	for _, id := range sortedKeys(b.dlqs) {
		dlqs = append(dlqs, b.dlqs[id].MetricApproximateNumberOfMessagesVisible(opt("Maximum", id)))
	}
	failedByCode := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf(`SEARCH('{%s,%s} MetricName="%s"', 'Sum', 300)`, MetricNamespace, DimensionCode, MetricJobsFailed)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{},
		Label:        jsii.String("failed:"),
		Period:       five,
	})
	api := b.httpAPI
	tbl := b.table

	rows := [][]awscloudwatch.IWidget{
		{
			graph("Uploads: ingest", 12, fn(fnIngest), b.functions[fnIngest].MetricDuration(opt("p90", "ingest p90 ms"))),
			graph("Jobs accepted", 12, []awscloudwatch.IMetric{ours(accepted.Metric(nil), MetricJobsAccepted)}),
		},
		{
			graph("Jobs queue", 8, queue("jobs", b.jobs)),
			graph("Dispatch", 8, fn(fnDispatch), duration(fnDispatch)...),
			graph("Dead-letter queues", 8, dlqs),
		},
		{
			graph("Endpoint backlog", 6, []awscloudwatch.IMetric{
				endpoint("ApproximateBacklogSize", "Maximum", "requests waiting", false),
				endpoint("ApproximateBacklogSizePerInstance", "Maximum", "waiting per instance", false),
				endpoint("HasBacklogWithoutCapacity", "Maximum", "backlog, no instance", false),
			}, endpoint("ApproximateAgeOfOldestRequest", "Maximum", "oldest request, s", false)),
			graph("Instances", 6, []awscloudwatch.IMetric{
				instanceMetric("CPUUtilization", "SampleCount", "instances", minute),
			}, instanceMetric("GPUUtilization", "Average", "GPU %", five),
				instanceMetric("GPUMemoryUtilization", "Maximum", "GPU memory %", five)),
			graph("Model latency (µs) and time in backlog", 6, []awscloudwatch.IMetric{
				endpoint("ModelLatency", "p50", "model p50", true), endpoint("ModelLatency", "p90", "model p90", true),
				endpoint("ModelLatency", "Maximum", "model max", true),
			}, endpoint("TimeInBacklog", "Maximum", "time in backlog, max", true)),
			graph("Segmentation failures", 6, []awscloudwatch.IMetric{
				endpoint("InvocationFailures", "Sum", "failed", true),
				endpoint("ExpiredRequests", "Sum", "expired in the queue", true),
				endpoint("RequestDownloadFailures", "Sum", "input download failed", true),
			}),
		},
		{
			graph("Mesh queue", 8, queue("mesh", b.mesh)),
			graph("Mesher duration (ms)", 8, duration(fnMesher), fn(fnMesher)...),
			graph("Mesher memory (MB)", 8, []awscloudwatch.IMetric{
				mesherMemory.Metric(opt("Maximum", fmt.Sprintf("max used of %d MB", b.p.MesherMemoryMB))),
			}),
		},
		{
			graph("Jobs done and failed", 12, []awscloudwatch.IMetric{ours(done.Metric(nil), MetricJobsDone), failedByCode}),
			graph("Jobs failed as stuck; status function", 12, []awscloudwatch.IMetric{
				awscloudwatch.NewMetric(&awscloudwatch.MetricProps{Namespace: jsii.String(MetricNamespace), MetricName: jsii.String(MetricStuckJobs),
					Statistic: jsii.String("Sum"), Period: five, Label: jsii.String(MetricStuckJobs)}),
			}, fn(fnStatus)...),
		},
		{
			graph("API requests", 8, []awscloudwatch.IMetric{
				api.MetricCount(opt("Sum", "requests")), api.MetricClientError(opt("Sum", "4xx")), api.MetricServerError(opt("Sum", "5xx")),
			}, b.api5xxRate()),
			graph("API latency (ms)", 8, []awscloudwatch.IMetric{
				api.MetricLatency(opt("p50", "p50")), api.MetricLatency(opt("p90", "p90")), api.MetricLatency(opt("p99", "p99")),
			}, api.MetricIntegrationLatency(opt("p90", "integration p90"))),
			graph("API function", 8, fn(fnAPI), duration(fnAPI)...),
		},
		{
			graph("Job table capacity", 6, []awscloudwatch.IMetric{
				tbl.MetricConsumedReadCapacityUnits(opt("Sum", "read units")), tbl.MetricConsumedWriteCapacityUnits(opt("Sum", "write units")),
			}),
			// Each ForOperations metric is a sum over the operations, whose
			// ids would clash in one graph.
			graph("Job table throttled requests", 6, []awscloudwatch.IMetric{
				tbl.MetricThrottledRequestsForOperations(&awsdynamodb.OperationsMetricOptions{Period: five, Label: jsii.String("throttled")}),
			}),
			graph("Job table system errors", 6, []awscloudwatch.IMetric{
				tbl.MetricSystemErrorsForOperations(&awsdynamodb.SystemErrorsForOperationsMetricOptions{Period: five, Label: jsii.String("system errors")}),
			}),
			graph("Bucket size (bytes)", 6, []awscloudwatch.IMetric{b.bucketSize().With(&awscloudwatch.MetricOptions{Label: jsii.String("BucketSizeBytes")})}),
		},
	}
	alarms := make([]interfacesawscloudwatch.IAlarmRef, 0, len(b.alarmList))
	for _, a := range b.alarmList {
		alarms = append(alarms, a)
	}
	rows = append(rows, []awscloudwatch.IWidget{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("Every alarm (what each means and what to do: infra/README.md, Operating)"), Alarms: &alarms,
		Width: jsii.Number(24), Height: jsii.Number(6)})})

	dash := awscloudwatch.NewDashboard(b.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName:   jsii.String(*b.stack.StackName() + "-pipeline"),
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(6)),
	})
	dash.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.String("# IRIS pipeline, top to bottom\nA job enters at 1 and leaves at 5; 6 and 7 are the API and the storage behind it. " +
			"Times are 5-minute sums or percentiles. What the alarms mean and what to do: infra/README.md, section Operating."),
		Width: jsii.Number(24), Height: jsii.Number(2)}))
	for i, row := range rows {
		dash.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
			Markdown: jsii.String("## " + DashboardSections[i]), Width: jsii.Number(24), Height: jsii.Number(1)}))
		dash.AddWidgets(row...)
	}
	b.dash = dash
}
