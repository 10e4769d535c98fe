package config

import (
	"bytes"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		need    []string
		want    Env
		wantErr []string // substrings, all must appear
	}{
		{
			name: "all set",
			env: map[string]string{
				EnvBucket: "b", EnvTable: "t", EnvJobsQueueURL: "https://sqs/q", EnvEventBus: "bus",
				EnvEndpoint: "ep", EnvMaxAttempts: "5", EnvInvocationTimeout: "1h", EnvRequestTTL: "90m",
				EnvDropOwner: "dropbox", EnvLogLevel: "debug",
			},
			need: []string{EnvBucket, EnvTable},
			want: Env{Bucket: "b", Table: "t", JobsQueueURL: "https://sqs/q", EventBus: "bus", Endpoint: "ep",
				MaxAttempts: 5, InvocationTimeout: time.Hour, RequestTTL: 90 * time.Minute, DropOwner: "dropbox", LogLevel: "debug"},
		},
		{name: "optional unset", env: map[string]string{EnvBucket: "b"}, need: []string{EnvBucket}, want: Env{Bucket: "b"}},
		{
			name:    "missing required, each named",
			env:     map[string]string{},
			need:    []string{EnvBucket, EnvEndpoint},
			wantErr: []string{EnvBucket + " is not set", EnvEndpoint + " is not set"},
		},
		{name: "bad attempts", env: map[string]string{EnvMaxAttempts: "five"}, wantErr: []string{EnvMaxAttempts + `="five"`}},
		{name: "zero attempts", env: map[string]string{EnvMaxAttempts: "0"}, wantErr: []string{EnvMaxAttempts}},
		{name: "bad duration", env: map[string]string{EnvRequestTTL: "6"}, wantErr: []string{EnvRequestTTL + `="6"`}},
		{name: "negative duration", env: map[string]string{EnvInvocationTimeout: "-1h"}, wantErr: []string{EnvInvocationTimeout}},
		{name: "bad GPUs", env: map[string]string{EnvGPUsPerInstance: "0", EnvMesherMemoryMB: "3GB"}, wantErr: []string{EnvGPUsPerInstance + `="0"`, EnvMesherMemoryMB + `="3GB"`}},
		{name: "bad level", env: map[string]string{EnvLogLevel: "loud"}, wantErr: []string{EnvLogLevel}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(getenv(tt.env), tt.need...)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Load: no error, want one naming %q", tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("Load error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got != tt.want {
				t.Errorf("Load = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Vars and Load must be inverses: the stack writes with one, the
// functions read with the other.
func TestVarsRoundTrip(t *testing.T) {
	in := Env{Bucket: "b", Table: "t", JobsQueueURL: "u", EventBus: "e", Endpoint: "ep", MaxAttempts: 7,
		InvocationTimeout: 55 * time.Minute, RequestTTL: 65 * time.Minute, DropOwner: "d", LogLevel: "warn",
		InstanceType: "ml.g5.xlarge", GPUsPerInstance: 4, MesherMemoryMB: 3008}
	vars := in.Vars()
	if len(vars) != 13 {
		t.Errorf("Vars set %d variables, want 13: %v", len(vars), vars)
	}
	out, err := Load(getenv(vars))
	if err != nil {
		t.Fatal(err)
	}
	if out != in {
		t.Errorf("Load(Vars(x)) = %+v, want %+v", out, in)
	}
	if empty := (Env{}).Vars(); len(empty) != 0 {
		t.Errorf("zero Env sets %v, want nothing", empty)
	}
	tokens := Env{Bucket: "${Token[TOKEN.12]}"}.Vars()
	if want := map[string]string{EnvBucket: "${Token[TOKEN.12]}"}; !maps.Equal(tokens, want) {
		t.Errorf("Vars with a token = %v, want %v", tokens, want)
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	log := Env{LogLevel: "warn"}.Logger(&buf, "mesher")
	log.Info("hidden")
	log.Warn("shown", "job", "j123456")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log output %q is not one JSON line: %v", buf.String(), err)
	}
	if line["function"] != "mesher" || line["job"] != "j123456" || line["msg"] != "shown" {
		t.Errorf("log line = %v, want function, job and msg", line)
	}
}
