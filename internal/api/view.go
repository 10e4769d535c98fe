package api

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/job"
)

// JobView is a job as the API shows it: no storage keys, signed URLs for
// the artifacts.
type JobView struct {
	ID        string                   `json:"id"`
	Status    job.Status               `json:"status"`
	FileName  string                   `json:"fileName,omitempty"` // the uploaded file's name, as stored (events.SafeName)
	CreatedAt time.Time                `json:"createdAt"`
	UpdatedAt time.Time                `json:"updatedAt"`
	Stages    map[job.Status]time.Time `json:"stages"`
	Input     *events.Input            `json:"input"`
	Engine    string                   `json:"engine,omitempty"`
	Error     *job.Error               `json:"error"`
	Organs    []job.Organ              `json:"organs"`
	Artifacts []ArtifactView           `json:"artifacts"`
	// Usage is a finished job's stage times, GPU seconds and estimated
	// cost (absent until the job ends).
	Usage *job.Usage `json:"usage,omitempty"`
}

// ArtifactView is one download.
type ArtifactView struct {
	Name      string    `json:"name"`
	URL       string    `json:"url"`
	Bytes     int64     `json:"bytes"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *Server) view(ctx context.Context, j job.Job) (JobView, error) {
	v, _, err := s.render(ctx, j)
	return v, err
}

// render is view, and whether the view is complete: false when the input
// volume could not be found for a job that has one, so that the answer is
// not kept (the volume may be there at the next poll).
func (s *Server) render(ctx context.Context, j job.Job) (JobView, bool, error) {
	v := JobView{ID: j.ID, Status: j.Status, FileName: uploadName(j.UploadKey), CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		Stages: j.Stages, Input: j.Input, Engine: j.Engine, Error: j.Error,
		Organs: j.Organs, Artifacts: []ArtifactView{}, Usage: j.Usage}
	if v.Organs == nil {
		v.Organs = []job.Organ{}
	}
	if v.Stages == nil {
		v.Stages = map[job.Status]time.Time{}
	}
	expires := s.now().Add(s.ttl())
	arts := j.Artifacts
	complete := true
	if j.Input != nil && j.Status != job.Failed {
		// The de-identified input volume, for slice viewers.
		if info, err := s.Blobs.Head(ctx, events.VolumeKey(j.ID)); err == nil {
			arts = append([]job.Artifact{{Name: events.VolumeFile, Key: info.Key, Bytes: info.Size}}, arts...)
		} else {
			complete = false
		}
	}
	for _, a := range arts {
		url, err := s.Signer.SignDownload(ctx, a.Key, path.Base(a.Name), expires)
		if err != nil {
			return JobView{}, false, fmt.Errorf("sign %s: %w", a.Key, err)
		}
		v.Artifacts = append(v.Artifacts, ArtifactView{Name: a.Name, URL: url, Bytes: a.Bytes, ExpiresAt: expires})
	}
	return v, complete, nil
}

// uploadName is the file name an upload key keeps (events.UploadKey), so a
// job that fails before its input is read still shows what was sent.
func uploadName(key string) string {
	if key == "" || strings.HasSuffix(key, "/") {
		return ""
	}
	return path.Base(key)
}
