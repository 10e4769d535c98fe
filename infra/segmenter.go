package infra

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssagemaker"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/jsii-runtime-go"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/timing"
)

// The endpoint's limits. A request may wait InvocationTimeout + RequestTTL
// at most, which stays within the status sweep's deadline for a
// segmenting job (pipeline.DefaultDeadlines: 2 hours), so the sweep never
// fails a job SageMaker may still finish.
const (
	// InvocationTimeout is one segmentation's processing limit (SageMaker
	// allows at most an hour); the worker's own -timeout equals it.
	InvocationTimeout = timing.SegmentInvocation
	// RequestTTL is how long a request may wait in the endpoint's queue,
	// scale-from-zero included (SageMaker's default is 6 hours).
	RequestTTL = timing.SegmentQueueTTL
	// BacklogPerInstance is the target-tracking goal: queued requests
	// per instance before another starts.
	BacklogPerInstance = 2
	// StartupHealthCheck is how long the worker may take to pass /ping:
	// it loads TotalSegmentator and segments a synthetic CT first.
	StartupHealthCheck = 15 * time.Minute
	// InferenceAMI has NVIDIA driver 550 (CUDA 12.4), which the image's
	// PyTorch needs; the default GPU AMI's driver 470 cannot run it
	// (gpuworker/README.md).
	InferenceAMI = "al2-ami-sagemaker-inference-gpu-3-1"
	variantName  = "AllTraffic"
)

// segmenter makes the GPU worker's image asset, the SageMaker model, the
// asynchronous endpoint (output to segmentations/, failures to
// segmentation-failures/, errors to an SNS topic) and its autoscaling
// between zero and MaxInstances.
func (b *builder) segmenter() error {
	b.variant = variantName
	b.errorsTopic = awssns.NewTopic(b.stack, jsii.String("SegmentationErrors"), &awssns.TopicProps{
		DisplayName: jsii.String("IRIS segmentation errors"),
		EnforceSSL:  jsii.Bool(true),
		// The AWS managed key: SageMaker publishes with its execution
		// role, which the key's policy admits through SNS.
		MasterKey: awskms.Alias_FromAliasName(b.stack, jsii.String("SnsManagedKey"), jsii.String("alias/aws/sns")),
	})
	excludes, err := dockerExcludes(b.p.RepoRoot)
	if err != nil {
		return err
	}
	image := awsecrassets.NewDockerImageAsset(b.stack, jsii.String("GpuWorkerImage"), &awsecrassets.DockerImageAssetProps{
		Directory:  jsii.String(b.p.RepoRoot),
		File:       jsii.String(dockerfile),
		Platform:   awsecrassets.Platform_LINUX_AMD64(),
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
		Exclude:    excludes,
	})

	role := awsiam.NewRole(b.stack, jsii.String("SageMakerRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("sagemaker.amazonaws.com"), nil),
		Description: jsii.String("IRIS GPU endpoint: pulls its image, reads volumes/, writes segmentations/ and segmentation-failures/"),
	})
	b.sagemakerRole = role
	image.Repository().GrantPull(role)
	b.errorsTopic.GrantPublish(role)
	b.allowObjects(role, []string{"s3:GetObject"}, events.PrefixVolumes)
	b.allowObjects(role, []string{"s3:PutObject"}, events.PrefixSegmentations, events.PrefixSegmentationFailures)
	logGroups := b.stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("logs"), Resource: jsii.String("log-group"),
		ResourceName: jsii.String("/aws/sagemaker/Endpoints/*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})
	b.allow(role, []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
		[]*string{logGroups})
	b.allow(role, []string{"cloudwatch:PutMetricData"}, []*string{jsii.String("*")})

	gpus := strconv.Itoa(b.p.GPUsPerInstance)
	model := awssagemaker.NewCfnModel(b.stack, jsii.String("Model"), &awssagemaker.CfnModelProps{
		ExecutionRoleArn: role.RoleArn(),
		PrimaryContainer: &awssagemaker.CfnModel_ContainerDefinitionProperty{
			Image: image.ImageUri(),
			Environment: map[string]interface{}{
				"GPUWORKER_CONCURRENCY": gpus,
				"GPUWORKER_TIMEOUT":     InvocationTimeout.String(),
			},
		},
	})
	// SageMaker checks at CreateModel that the role can pull the image.
	model.Node().AddDependency(role)

	config := awssagemaker.NewCfnEndpointConfig(b.stack, jsii.String("EndpointConfig"), &awssagemaker.CfnEndpointConfigProps{
		ProductionVariants: []interface{}{&awssagemaker.CfnEndpointConfig_ProductionVariantProperty{
			VariantName:          jsii.String(variantName),
			ModelName:            model.AttrModelName(),
			InstanceType:         jsii.String(b.p.InstanceType),
			InitialInstanceCount: jsii.Number(1), // autoscaling takes it to 0 when idle
			InferenceAmiVersion:  jsii.String(InferenceAMI),
			ContainerStartupHealthCheckTimeoutInSeconds: jsii.Number(StartupHealthCheck.Seconds()),
		}},
		AsyncInferenceConfig: &awssagemaker.CfnEndpointConfig_AsyncInferenceConfigProperty{
			OutputConfig: &awssagemaker.CfnEndpointConfig_AsyncInferenceOutputConfigProperty{
				S3OutputPath:  b.s3URI(strings.TrimSuffix(events.PrefixSegmentations, "/")),
				S3FailurePath: b.s3URI(strings.TrimSuffix(events.PrefixSegmentationFailures, "/")),
				NotificationConfig: &awssagemaker.CfnEndpointConfig_AsyncInferenceNotificationConfigProperty{
					ErrorTopic: b.errorsTopic.TopicArn(),
				},
			},
			ClientConfig: &awssagemaker.CfnEndpointConfig_AsyncInferenceClientConfigProperty{
				MaxConcurrentInvocationsPerInstance: jsii.Number(b.p.GPUsPerInstance),
			},
		},
	})
	b.endpoint = awssagemaker.NewCfnEndpoint(b.stack, jsii.String("Endpoint"), &awssagemaker.CfnEndpointProps{
		EndpointConfigName: config.AttrEndpointConfigName(),
	})
	b.autoscaling()
	return nil
}

// autoscaling scales the variant between 0 and MaxInstances: target
// tracking on the backlog per instance, and, because that metric means
// nothing with no instance, a step policy that starts one when requests
// wait without capacity (the SageMaker developer guide's scale-from-zero
// recipe, facts/aws.md §1).
func (b *builder) autoscaling() {
	target := awsapplicationautoscaling.NewScalableTarget(b.stack, jsii.String("EndpointScaling"), &awsapplicationautoscaling.ScalableTargetProps{
		ServiceNamespace: awsapplicationautoscaling.ServiceNamespace_SAGEMAKER,
		ResourceId: awscdk.Fn_Join(jsii.String(""), &[]*string{
			jsii.String("endpoint/"), b.endpoint.AttrEndpointName(), jsii.String("/variant/" + b.variant)}),
		ScalableDimension: jsii.String("sagemaker:variant:DesiredInstanceCount"),
		MinCapacity:       jsii.Number(0),
		MaxCapacity:       jsii.Number(b.p.MaxInstances),
	})
	target.ScaleToTrackMetric(jsii.String("Backlog"), &awsapplicationautoscaling.BasicTargetTrackingScalingPolicyProps{
		TargetValue:      jsii.Number(BacklogPerInstance),
		CustomMetric:     b.endpointMetric("ApproximateBacklogSizePerInstance", "Average", false),
		ScaleInCooldown:  awscdk.Duration_Minutes(jsii.Number(10)),
		ScaleOutCooldown: awscdk.Duration_Minutes(jsii.Number(5)),
	})
	fromZero := awsapplicationautoscaling.NewStepScalingAction(b.stack, jsii.String("ScaleFromZero"), &awsapplicationautoscaling.StepScalingActionProps{
		ScalingTarget:         target,
		AdjustmentType:        awsapplicationautoscaling.AdjustmentType_CHANGE_IN_CAPACITY,
		Cooldown:              awscdk.Duration_Minutes(jsii.Number(5)),
		MetricAggregationType: awsapplicationautoscaling.MetricAggregationType_MAXIMUM,
	})
	fromZero.AddAdjustment(&awsapplicationautoscaling.AdjustmentTier{Adjustment: jsii.Number(1), LowerBound: jsii.Number(0)})
	alarm := awscloudwatch.NewAlarm(b.stack, jsii.String("HasBacklogWithoutCapacity"), &awscloudwatch.AlarmProps{
		AlarmDescription:   jsii.String("Segmentation requests wait and the endpoint has no instance: start one"),
		Metric:             b.endpointMetric("HasBacklogWithoutCapacity", "Maximum", false),
		Threshold:          jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewApplicationScalingAction(fromZero))
}

// endpointMetric is one of the endpoint's per-minute metrics; withVariant
// adds the VariantName dimension, which the invocation metrics carry and
// the backlog metrics do not.
func (b *builder) endpointMetric(name, statistic string, withVariant bool) awscloudwatch.Metric {
	dims := map[string]*string{"EndpointName": b.endpoint.AttrEndpointName()}
	if withVariant {
		dims["VariantName"] = jsii.String(b.variant)
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String("AWS/SageMaker"),
		MetricName:    jsii.String(name),
		DimensionsMap: &dims,
		Statistic:     jsii.String(statistic),
		Period:        awscdk.Duration_Minutes(jsii.Number(1)),
	})
}

// s3URI is s3://bucket/path.
func (b *builder) s3URI(path string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("s3://"), b.bucket.BucketName(), jsii.String("/" + path)})
}

// dockerExcludes is what the image asset leaves out of the build context
// it stages: the lines of the Dockerfile's own ignore file
// (gpuworker/Dockerfile.dockerignore, which BuildKit reads but the CDK
// does not), then the Dockerfile and that file themselves, which must be
// staged. Without it staging would copy the whole repository, web
// node_modules and test data included. Props.withDefaults checks that the
// file exists.
func dockerExcludes(root string) (*[]*string, error) {
	name := filepath.Join(root, dockerignore)
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ex []*string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			ex = append(ex, jsii.String(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	ex = append(ex, jsii.String("!"+dockerfile), jsii.String("!"+dockerignore))
	return &ex, nil
}
