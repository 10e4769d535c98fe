// Package config is the contract between the CDK stack and the Lambda
// functions: the names of the environment variables the stack sets, a
// loader that reads and checks them, and the JSON logger every function
// writes with. The stack builds its environment maps with Env.Vars, so the
// two sides cannot drift apart.
//
// It deliberately imports neither the AWS SDK nor the CDK: the stack and
// every function link it.
package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// The environment variables.
const (
	EnvBucket            = "IRIS_BUCKET"             // the pipeline's bucket
	EnvTable             = "IRIS_TABLE"              // the DynamoDB job table
	EnvJobsQueueURL      = "IRIS_JOBS_QUEUE_URL"     // the jobs queue ingest sends to
	EnvEventBus          = "IRIS_EVENT_BUS"          // event bus name or ARN; unset means the default bus
	EnvEndpoint          = "IRIS_ENDPOINT"           // the SageMaker async endpoint's name
	EnvMaxAttempts       = "IRIS_MAX_ATTEMPTS"       // the consumed queue's maxReceiveCount
	EnvQueueURL          = "IRIS_QUEUE_URL"          // the consumed queue's URL (for the retry backoff)
	EnvRetryBackoff      = "IRIS_RETRY_BACKOFF"      // a failed message's wait before its next try (Go duration)
	EnvInvocationTimeout = "IRIS_INVOCATION_TIMEOUT" // SageMaker processing limit per request (Go duration)
	EnvRequestTTL        = "IRIS_REQUEST_TTL"        // SageMaker queueing limit per request (Go duration)
	EnvDropOwner         = "IRIS_DROP_OWNER"         // owner of jobs made from files dropped into uploads/
	EnvLogLevel          = "IRIS_LOG_LEVEL"          // debug, info (default), warn or error
	EnvGroupsQueueURL    = "IRIS_GROUPS_QUEUE_URL"   // ingest's delayed re-checks of dropped folders
	EnvSettle            = "IRIS_SETTLE"             // how long a dropped folder stays unchanged before it is read (Go duration)
	EnvMaxUploadBytes    = "IRIS_MAX_UPLOAD_BYTES"   // the API's upload limit: ingest's limits.Limits.Upload
	EnvMeshQueueURL      = "IRIS_MESH_QUEUE_URL"     // the mesh queue the API sends print export requests to
	// What a job's cost estimate depends on (internal/cost), for the
	// status function.
	EnvInstanceType    = "IRIS_INSTANCE_TYPE"     // the GPU endpoint's SageMaker instance type
	EnvGPUsPerInstance = "IRIS_GPUS_PER_INSTANCE" // GPUs of that instance, which share its price
	EnvMesherMemoryMB  = "IRIS_MESHER_MEMORY_MB"  // the mesher function's memory
)

// Env is a function's configuration. Zero fields are unset.
type Env struct {
	Bucket            string
	Table             string
	JobsQueueURL      string
	EventBus          string
	Endpoint          string
	MaxAttempts       int
	QueueURL          string
	RetryBackoff      time.Duration
	InvocationTimeout time.Duration
	RequestTTL        time.Duration
	DropOwner         string
	LogLevel          string
	GroupsQueueURL    string
	Settle            time.Duration
	MaxUploadBytes    int64
	MeshQueueURL      string
	InstanceType      string
	GPUsPerInstance   int
	MesherMemoryMB    int
}

// Load reads the configuration through getenv (os.Getenv in a function)
// and fails, naming every problem, when a variable in need is unset or a
// variable holds a value that does not parse.
func Load(getenv func(string) string, need ...string) (Env, error) {
	e := Env{
		Bucket:         getenv(EnvBucket),
		Table:          getenv(EnvTable),
		JobsQueueURL:   getenv(EnvJobsQueueURL),
		EventBus:       getenv(EnvEventBus),
		Endpoint:       getenv(EnvEndpoint),
		QueueURL:       getenv(EnvQueueURL),
		DropOwner:      getenv(EnvDropOwner),
		LogLevel:       getenv(EnvLogLevel),
		GroupsQueueURL: getenv(EnvGroupsQueueURL),
		MeshQueueURL:   getenv(EnvMeshQueueURL),
		InstanceType:   getenv(EnvInstanceType),
	}
	var errs []error
	for _, name := range need {
		if getenv(name) == "" {
			errs = append(errs, fmt.Errorf("environment variable %s is not set", name))
		}
	}
	for _, c := range []struct {
		name string
		v    *int
	}{{EnvMaxAttempts, &e.MaxAttempts}, {EnvGPUsPerInstance, &e.GPUsPerInstance}, {EnvMesherMemoryMB, &e.MesherMemoryMB}} {
		s := getenv(c.name)
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number of at least 1", c.name, s))
		}
		*c.v = n
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
	}{{EnvInvocationTimeout, &e.InvocationTimeout}, {EnvRequestTTL, &e.RequestTTL}, {EnvSettle, &e.Settle}, {EnvRetryBackoff, &e.RetryBackoff}} {
		s := getenv(d.name)
		if s == "" {
			continue
		}
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive Go duration such as 1h or 90m", d.name, s))
		}
		*d.v = v
	}
	if s := getenv(EnvMaxUploadBytes); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s=%q: want a whole number of bytes of at least 1", EnvMaxUploadBytes, s))
		}
		e.MaxUploadBytes = n
	}
	if _, err := level(e.LogLevel); err != nil {
		errs = append(errs, err)
	}
	return e, errors.Join(errs...)
}

// Vars is e as environment variables, leaving out unset fields. Values
// may be CDK tokens; they pass through untouched.
func (e Env) Vars() map[string]string {
	m := map[string]string{}
	set := func(name, v string) {
		if v != "" {
			m[name] = v
		}
	}
	set(EnvBucket, e.Bucket)
	set(EnvTable, e.Table)
	set(EnvJobsQueueURL, e.JobsQueueURL)
	set(EnvEventBus, e.EventBus)
	set(EnvEndpoint, e.Endpoint)
	if e.MaxAttempts > 0 {
		set(EnvMaxAttempts, strconv.Itoa(e.MaxAttempts))
	}
	set(EnvQueueURL, e.QueueURL)
	if e.RetryBackoff > 0 {
		set(EnvRetryBackoff, e.RetryBackoff.String())
	}
	if e.InvocationTimeout > 0 {
		set(EnvInvocationTimeout, e.InvocationTimeout.String())
	}
	if e.RequestTTL > 0 {
		set(EnvRequestTTL, e.RequestTTL.String())
	}
	set(EnvDropOwner, e.DropOwner)
	set(EnvLogLevel, e.LogLevel)
	set(EnvGroupsQueueURL, e.GroupsQueueURL)
	set(EnvMeshQueueURL, e.MeshQueueURL)
	if e.Settle > 0 {
		set(EnvSettle, e.Settle.String())
	}
	if e.MaxUploadBytes > 0 {
		set(EnvMaxUploadBytes, strconv.FormatInt(e.MaxUploadBytes, 10))
	}
	set(EnvInstanceType, e.InstanceType)
	if e.GPUsPerInstance > 0 {
		set(EnvGPUsPerInstance, strconv.Itoa(e.GPUsPerInstance))
	}
	if e.MesherMemoryMB > 0 {
		set(EnvMesherMemoryMB, strconv.Itoa(e.MesherMemoryMB))
	}
	return m
}

// Logger returns the JSON logger a function writes to w (os.Stdout, which
// Lambda sends to CloudWatch Logs), every line naming the function.
func (e Env) Logger(w io.Writer, function string) *slog.Logger {
	lv, _ := level(e.LogLevel)
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})).With("function", function)
}

func level(s string) (slog.Level, error) {
	var lv slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo, fmt.Errorf("%s=%q: want debug, info, warn or error", EnvLogLevel, s)
	}
	return lv, nil
}
