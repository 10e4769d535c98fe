package infra

import (
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/functions/config"
	iaws "github.com/iris-oculus/iris/internal/aws"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/timing"
)

// A function's resources. Memory is also its CPU share (1769 MB is one
// vCPU). The mesher's default, 3008 MB, is about 3× the peak RSS measured
// meshing a 300×300×600 label map (~1 GB); a 512×512×600 map has 2.9× the
// voxels, so raise Props.MesherMemoryMB (up to 10240) for full-resolution
// TotalSegmentator output. Ingest decodes whole DICOM series and NIfTI
// volumes the same way. Both spool to /tmp, hence the ephemeral storage.
type fnSpec struct {
	name        string
	memoryMB    int
	timeout     time.Duration
	ephemeralMB int  // 0 means Lambda's 512
	async       bool // invoked asynchronously (by EventBridge): retries + DLQ
	env         config.Env
	description string
}

// Timeouts of the functions, from package timing, the one definition of
// the timeouts, attempts and backoff that the sweep's deadlines derive
// from; a queue's visibility timeout is timing.Visibility of its
// consumer's.
const (
	ingestTimeout   = timing.IngestTimeout
	dispatchTimeout = timing.DispatchTimeout
	mesherTimeout   = timing.MesherTimeout
	statusTimeout   = timing.StatusTimeout
	apiTimeout      = timing.APITimeout
	// DropOwner owns the jobs of files dropped into uploads/ without the
	// API: no signed-in user sees them through the API.
	DropOwner = "bucket-drop"
)

// ingestMemoryMB is the ingest function's memory, from which its limits
// (and so the API's upload limit) derive.
const ingestMemoryMB = 3008

// IngestLimits are the ingest function's limits, as limits.Machine
// computes them inside it (Lambda gives 2 vCPUs at this memory).
func IngestLimits() limits.Limits { return limits.For(ingestMemoryMB<<20, 2) }

func seconds(d time.Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.Seconds()))
}

// queues makes the jobs and mesh queues, each with its dead-letter queue,
// and the dead-letter queue of the EventBridge targets.
func (b *builder) queues() {
	b.jobs = b.queue("Jobs", timing.Visibility(dispatchTimeout))
	b.mesh = b.queue("Mesh", timing.Visibility(mesherTimeout))
	b.groups = b.queue("Groups", timing.Visibility(ingestTimeout))
	b.eventsDLQ = b.deadLetters("EventsDLQ")
}

// queue makes a work queue whose messages go to their own dead-letter
// queue after MaxReceiveCount deliveries.
func (b *builder) queue(id string, visibility time.Duration) awssqs.Queue {
	dlq := b.deadLetters(id + "DLQ")
	return awssqs.NewQueue(b.stack, jsii.String(id+"Queue"), &awssqs.QueueProps{
		VisibilityTimeout: seconds(visibility),
		RetentionPeriod:   days(4),
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: dlq, MaxReceiveCount: jsii.Number(MaxReceiveCount)},
	})
}

// deadLetters makes a dead-letter queue, kept 14 days (SQS's maximum) for
// inspection and redrive; an alarm watches each.
func (b *builder) deadLetters(id string) awssqs.Queue {
	q := awssqs.NewQueue(b.stack, jsii.String(id), &awssqs.QueueProps{
		RetentionPeriod: days(14),
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
	})
	b.dlqs[id] = q
	return q
}

// lambdas makes the five functions, their permissions and their queue
// event sources.
func (b *builder) lambdas() {
	bucket, table := b.bucket.BucketName(), b.table.TableName()
	specs := []fnSpec{
		{name: fnIngest, memoryMB: ingestMemoryMB, timeout: ingestTimeout, ephemeralMB: 10240, async: true,
			env: config.Env{Bucket: *bucket, JobsQueueURL: *b.jobs.QueueUrl(), GroupsQueueURL: *b.groups.QueueUrl(),
				QueueURL: *b.groups.QueueUrl(), RetryBackoff: timing.RetryBackoff},
			description: "Validates an upload, writes the de-identified volume, queues the job"},
		{name: fnDispatch, memoryMB: 256, timeout: dispatchTimeout,
			env: config.Env{Bucket: *bucket, Table: *table, Endpoint: *b.endpoint.AttrEndpointName(),
				MaxAttempts: MaxReceiveCount, QueueURL: *b.jobs.QueueUrl(), RetryBackoff: timing.RetryBackoff,
				InvocationTimeout: InvocationTimeout, RequestTTL: RequestTTL},
			description: "Starts the asynchronous segmentation of a queued job"},
		{name: fnMesher, memoryMB: b.p.MesherMemoryMB, timeout: mesherTimeout, ephemeralMB: 4096,
			env: config.Env{Bucket: *bucket, Table: *table, MaxAttempts: MaxReceiveCount,
				QueueURL: *b.mesh.QueueUrl(), RetryBackoff: timing.RetryBackoff},
			description: "Turns a label map into the job's organ models"},
		{name: fnStatus, memoryMB: 512, timeout: statusTimeout, async: true,
			env: config.Env{Bucket: *bucket, Table: *table, DropOwner: DropOwner,
				InstanceType: b.p.InstanceType, GPUsPerInstance: b.p.GPUsPerInstance, MesherMemoryMB: b.p.MesherMemoryMB},
			description: "Keeps the job records' statuses and sweeps stuck jobs"},
		{name: fnAPI, memoryMB: 512, timeout: apiTimeout,
			env:         config.Env{Bucket: *bucket, Table: *table, MaxUploadBytes: IngestLimits().Upload, MeshQueueURL: *b.mesh.QueueUrl()},
			description: "The HTTP API: jobs, signed uploads and downloads"},
	}
	for _, s := range specs {
		b.function(s)
	}
	b.grants()

	b.functions[fnDispatch].AddEventSource(awslambdaeventsources.NewSqsEventSource(b.jobs, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(10),
		ReportBatchItemFailures: jsii.Bool(true),
		// Each start is one InvokeEndpointAsync; two pollers keep up.
		MaxConcurrency: jsii.Number(2),
	}))
	b.functions[fnIngest].AddEventSource(awslambdaeventsources.NewSqsEventSource(b.groups, &awslambdaeventsources.SqsEventSourceProps{
		// A check is a listing; the one that reads the folder uses the
		// function's memory, so one per invocation.
		BatchSize:               jsii.Number(1),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(5),
	}))
	b.functions[fnMesher].AddEventSource(awslambdaeventsources.NewSqsEventSource(b.mesh, &awslambdaeventsources.SqsEventSourceProps{
		// One label map per invocation: it uses the function's memory.
		BatchSize:               jsii.Number(1),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(b.p.MesherConcurrency),
	}))
}

// function makes one function with a role of its own that may write only
// its own log group; grants adds the rest.
func (b *builder) function(s fnSpec) {
	id := title(s.name)
	logs := awslogs.NewLogGroup(b.stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_THREE_MONTHS,
	})
	role := awsiam.NewRole(b.stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("IRIS " + s.name + " function"),
	})
	logs.GrantWrite(role)
	env := map[string]*string{}
	for k, v := range s.env.Vars() {
		env[k] = jsii.String(v)
	}
	env["GOMEMLIMIT"] = jsii.String(goMemLimit(s.memoryMB))
	props := &awslambda.FunctionProps{
		Description:  jsii.String(s.description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"), // ignored by OS-only runtimes, required by CDK
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(b.p.LambdaDir, s.name+".zip")), nil),
		MemorySize:   jsii.Number(s.memoryMB),
		Timeout:      seconds(s.timeout),
		Environment:  &env,
		Role:         role,
		LogGroup:     logs,
	}
	if s.ephemeralMB > 0 {
		props.EphemeralStorageSize = awscdk.Size_Mebibytes(jsii.Number(s.ephemeralMB))
	}
	if s.async {
		// Lambda retries a failed asynchronous invocation twice, then
		// keeps the event in the function's dead-letter queue.
		props.RetryAttempts = jsii.Number(timing.IngestRetries)
		props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
		props.DeadLetterQueue = b.deadLetters(id + "FailuresDLQ")
	}
	fn := awslambda.NewFunction(b.stack, jsii.String(id+"Function"), props)
	// The role's policy must exist before the function runs.
	fn.Node().AddDependency(role)
	b.functions[s.name], b.roles[s.name] = fn, role
}

// goMemLimit is GOMEMLIMIT for a function of memoryMB (Lambda's MB are
// MiB): limits.GoMemLimit, which sits above the job budget the function
// derives from the same memory (limits.Machine).
func goMemLimit(memoryMB int) string {
	return fmt.Sprintf("%dMiB", limits.GoMemLimit(int64(memoryMB)<<20)>>20)
}

// grants gives each function what its stage does, on its own prefixes
// only. s3:ListBucket is needed by every function that reads an object
// that may be missing: without it S3 answers 403 instead of 404, and the
// pipeline could not tell "not there (yet)" from a failure. It lists key
// names only.
func (b *builder) grants() {
	r := b.roles
	listBucket := []*string{b.bucket.BucketArn()}
	for _, fn := range functionNames {
		b.allow(r[fn], []string{"s3:ListBucket"}, listBucket)
	}
	// ingest: read and delete the upload, write (and on redelivery read)
	// the volume, or for an uploaded label map the job's segmentation,
	// queue the job, announce it.
	b.allowObjects(r[fnIngest], []string{"s3:GetObject", "s3:DeleteObject"}, events.PrefixUploads)
	b.allowObjects(r[fnIngest], []string{"s3:GetObject", "s3:PutObject"}, events.PrefixVolumes, events.PrefixSegmentations)
	b.jobs.GrantSendMessages(r[fnIngest])
	b.groups.GrantSendMessages(r[fnIngest]) // the event source mapping grants the receiving
	// dispatch: is the segmentation already there; start it.
	b.allowObjects(r[fnDispatch], []string{"s3:GetObject"}, events.PrefixSegmentations)
	b.allow(r[fnDispatch], []string{"sagemaker:InvokeEndpointAsync"}, []*string{b.stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("sagemaker"), Resource: jsii.String("endpoint"), ResourceName: b.endpoint.AttrEndpointName()})})
	// mesher: read the label map, write (and read back) the model set;
	// delete both for a job deleted meanwhile.
	b.allowObjects(r[fnMesher], []string{"s3:DeleteObject", "s3:GetObject"}, events.PrefixSegmentations)
	b.allowObjects(r[fnMesher], []string{"s3:DeleteObject", "s3:GetObject", "s3:PutObject"}, events.PrefixResults)
	// status: read the manifest and the failure bodies; own the records;
	// query the unfinished jobs' index for the sweep; clear every prefix
	// of a deleted job whose late outputs arrive.
	b.allowObjects(r[fnStatus], []string{"s3:GetObject"}, events.PrefixResults, events.PrefixSegmentationFailures)
	b.allowObjects(r[fnStatus], []string{"s3:DeleteObject"}, events.JobPrefixes()...)
	b.allow(r[fnStatus], []string{"dynamodb:GetItem", "dynamodb:PutItem"}, []*string{b.table.TableArn()})
	b.allow(r[fnStatus], []string{"dynamodb:Query"}, []*string{awscdk.Fn_Join(jsii.String(""),
		&[]*string{b.table.TableArn(), jsii.String("/index/" + iaws.JobUnfinishedIndex)})})
	// api: sign uploads and downloads, delete a job's objects, create,
	// read, list and delete records.
	b.allowObjects(r[fnAPI], []string{"s3:PutObject"}, events.PrefixUploads)
	// (and a print export's request beside its results, sent on to the
	// mesh queue)
	b.allowObjects(r[fnAPI], []string{"s3:PutObject"}, events.PrefixResults)
	b.allow(r[fnAPI], []string{"sqs:SendMessage"}, []*string{b.mesh.QueueArn()})
	b.allowObjects(r[fnAPI], []string{"s3:GetObject"}, events.PrefixVolumes, events.PrefixResults)
	b.allowObjects(r[fnAPI], []string{"s3:DeleteObject"}, events.PrefixUploads, events.PrefixVolumes,
		events.PrefixSegmentations, events.PrefixSegmentationFailures, events.PrefixResults)
	// (Deleting a job puts a tombstone in its place: PutItem.)
	b.allow(r[fnAPI], []string{"dynamodb:GetItem", "dynamodb:PutItem"}, []*string{b.table.TableArn()})
	b.allow(r[fnAPI], []string{"dynamodb:Query"}, []*string{awscdk.Fn_Join(jsii.String(""),
		&[]*string{b.table.TableArn(), jsii.String("/index/*")})})
	// dispatch claims a job's segmentation (a conditional PutItem of the
	// record, ports.Store.Claim); the mesher reads records; the stages
	// that emit events publish to the default bus.
	b.allow(r[fnDispatch], []string{"dynamodb:GetItem", "dynamodb:PutItem"}, []*string{b.table.TableArn()})
	b.allow(r[fnMesher], []string{"dynamodb:GetItem"}, []*string{b.table.TableArn()})
	bus := b.stack.FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("event-bus"), ResourceName: jsii.String("default")})
	for _, fn := range []string{fnIngest, fnDispatch, fnMesher} {
		b.allow(r[fn], []string{"events:PutEvents"}, []*string{bus})
	}
}

// allow adds a statement to role's policy.
func (b *builder) allow(role awsiam.IRole, actions []string, resources []*string) {
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}))
}

// allowObjects lets role act on the objects under the prefixes, and
// records them: these wildcards, and only these, are the ones nag.go
// accepts for the role.
func (b *builder) allowObjects(role awsiam.IRole, actions []string, prefixes ...string) {
	b.allow(role, actions, b.objects(prefixes...))
	path := *role.Node().Path()
	b.prefixGrants[path] = append(b.prefixGrants[path], prefixes...)
}

// objects are the ARNs of the objects under each prefix.
func (b *builder) objects(prefixes ...string) []*string {
	arns := make([]*string, 0, len(prefixes))
	for _, p := range prefixes {
		arns = append(arns, b.bucket.ArnForObjects(jsii.String(p+"*")))
	}
	return arns
}

// rules turns each entry of events.Rules into an EventBridge rule with the
// very same pattern, and adds the sweep's schedule. Every target retries
// delivery and keeps what it cannot deliver in the events dead-letter
// queue.
func (b *builder) rules() error {
	target := func(name string) (awsevents.IRuleTarget, error) {
		switch name {
		case events.TargetIngest, events.TargetStatus:
			fn := b.functions[fnIngest]
			if name == events.TargetStatus {
				fn = b.functions[fnStatus]
			}
			return awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
				DeadLetterQueue: b.eventsDLQ, RetryAttempts: jsii.Number(targetRetries), MaxEventAge: awscdk.Duration_Hours(jsii.Number(6)),
			}), nil
		case events.TargetMesher:
			return awseventstargets.NewSqsQueue(b.mesh, &awseventstargets.SqsQueueProps{
				DeadLetterQueue: b.eventsDLQ, RetryAttempts: jsii.Number(targetRetries), MaxEventAge: awscdk.Duration_Hours(jsii.Number(6)),
			}), nil
		}
		return nil, fmt.Errorf("routing rule target %q has no resource in the stack", name)
	}
	for _, r := range events.Rules(*b.bucket.BucketName()) {
		pattern, err := eventPattern(r.Pattern)
		if err != nil {
			return fmt.Errorf("routing rule %s: %w", r.Name, err)
		}
		t, err := target(r.Target)
		if err != nil {
			return err
		}
		awsevents.NewRule(b.stack, jsii.String("Rule-"+r.Name), &awsevents.RuleProps{
			Description:  jsii.String(RuleDescription(r.Name)),
			EventPattern: pattern,
			Targets:      &[]awsevents.IRuleTarget{t},
		})
	}
	sweep, _ := target(events.TargetStatus)
	awsevents.NewRule(b.stack, jsii.String("Sweep"), &awsevents.RuleProps{
		Description: jsii.String("iris: every 5 minutes, the status function fails jobs stuck past their deadline"),
		Schedule:    awsevents.Schedule_Rate(seconds(timing.SweepEvery)),
		Targets:     &[]awsevents.IRuleTarget{sweep},
	})
	return nil
}

// targetRetries is how often EventBridge retries delivering to a target
// (throttling, service errors) within 6 hours; function errors are the
// function's own retries.
const targetRetries = 50

// RuleDescription is the description of the EventBridge rule made from
// the routing rule named name.
func RuleDescription(name string) string { return "iris: " + name + " (events.Rules)" }

// eventPattern converts a routing rule's pattern to CDK's. The top-level
// fields must be lists of strings, except detail, which passes through.
func eventPattern(p map[string]any) (*awsevents.EventPattern, error) {
	var ep awsevents.EventPattern
	fields := map[string]**[]*string{
		"source": &ep.Source, "detail-type": &ep.DetailType, "account": &ep.Account, "region": &ep.Region,
		"resources": &ep.Resources, "id": &ep.Id, "time": &ep.Time, "version": &ep.Version,
	}
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := p[k]
		if k == "detail" {
			d, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("pattern field detail is %T, want an object", v)
			}
			ep.Detail = &d
			continue
		}
		f, ok := fields[k]
		if !ok {
			return nil, fmt.Errorf("pattern field %q is not an EventBridge envelope field", k)
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("pattern field %q is %T, want a list of strings", k, v)
		}
		out := make([]*string, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("pattern field %q holds %T, want strings only (content filters belong under detail)", k, e)
			}
			out = append(out, jsii.String(s))
		}
		*f = &out
	}
	return &ep, nil
}

func title(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
