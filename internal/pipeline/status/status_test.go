package status

import (
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/pipeline/stage"
)

func TestParseFailure(t *testing.T) {
	long := strings.Repeat("é", 800)
	tests := []struct {
		body, code, message string
	}{
		{`{"error":{"code":"gpu_oom","message":"The GPU ran out of memory."}}`, "gpu_oom", "The GPU ran out of memory."},
		{`{"error":{"code":"Bad Code!","message":"x"}}`, stage.CodeSegmentationFailed, "x"},
		{`{"error":"model crashed"}`, stage.CodeSegmentationFailed, "model crashed"},
		{`{"code":"not_ct","message":"input is not a CT"}`, "not_ct", "input is not a CT"},
		{`{"ErrorCode":"ModelError","OriginalMessage":"boom"}`, stage.CodeSegmentationFailed, `The segmentation failed: {"ErrorCode":"ModelError","OriginalMessage":"boom"}`},
		{"Traceback (most recent call last):\n  RuntimeError: CUDA out of memory\n", stage.CodeSegmentationFailed, "The segmentation failed: Traceback (most recent call last):\n  RuntimeError: CUDA out of memory"},
		{"", stage.CodeSegmentationFailed, "The segmentation failed without saying why. Try again; if it fails again, report the job id."},
		{"\xff\xfe bad bytes", stage.CodeSegmentationFailed, "The segmentation failed: \uFFFD bad bytes"},
		{long, stage.CodeSegmentationFailed, truncate("The segmentation failed: " + long)},
	}
	for _, tt := range tests {
		code, msg := parseFailure([]byte(tt.body))
		if code != tt.code || msg != tt.message {
			t.Errorf("parseFailure(%.40q) = %q, %.60q; want %q, %.60q", tt.body, code, msg, tt.code, tt.message)
		}
		if len(msg) > maxMessage+len("…") {
			t.Errorf("message of %d bytes", len(msg))
		}
	}
}
