package segment

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/iris-oculus/iris/internal/volume"
)

// Remote is an engine reached over HTTP with the SageMaker container
// contract — a running gpuworker: the CT goes to POST {URL}/invocations as
// a .nii.gz, the label map comes back. It lets one machine borrow another's
// GPU without AWS.
type Remote struct {
	URL    string       // e.g. "http://gpu-box:8080"
	Client *http.Client // nil means http.DefaultClient (bound the time with ctx)
}

// Name returns the worker's address.
func (r Remote) Name() string { return "remote " + r.URL }

// Segment implements Engine.
func (r Remote) Segment(ctx context.Context, ct *volume.CT) (*volume.LabelMap, error) {
	var body bytes.Buffer
	if err := volume.WriteCT(&body, ct); err != nil {
		return nil, fmt.Errorf("remote %s: encode CT: %w", r.URL, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.URL, "/")+"/invocations", &body)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", r.URL, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", r.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, remoteError(r.URL, resp)
	}
	img, err := volume.Read(resp.Body, volume.ReadOptions{})
	if err != nil {
		return nil, fmt.Errorf("remote %s: read label map: %w", r.URL, err)
	}
	lm, err := img.LabelMap()
	if err != nil {
		return nil, fmt.Errorf("remote %s: %w", r.URL, err)
	}
	if lm.Dims != ct.Dims {
		return nil, fmt.Errorf("remote %s: label map is %v voxels, the CT %v", r.URL, lm.Dims, ct.Dims)
	}
	return lm, nil
}

// remoteError turns the worker's JSON error body into an error; a not_ct
// code keeps its meaning for callers (errors.Is(err, ErrNotCT)).
func remoteError(url string, resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		if body.Error.Code == "not_ct" {
			return fmt.Errorf("remote %s: %w: %s", url, ErrNotCT, body.Error.Message)
		}
		return fmt.Errorf("remote %s: %s (%s, HTTP %d)", url, body.Error.Message, body.Error.Code, resp.StatusCode)
	}
	return fmt.Errorf("remote %s: HTTP %d: %s", url, resp.StatusCode, strings.TrimSpace(string(raw)))
}
