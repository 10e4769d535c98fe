package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

// DefaultMaxUploadBytes is Ingest.MaxUploadBytes when it is 0: a zip of a
// thin-sliced whole-body series, with room to spare.
const DefaultMaxUploadBytes int64 = 4 << 30

// Ingest turns an upload into the pipeline's input. For each S3 "Object
// Created" event under uploads/ it reads the file (recognised by content),
// checks that it is a CT, writes the de-identified volume to
// volumes/{job}/ct.nii.gz, emits "Job Accepted", sends a DispatchRequest
// to the jobs queue and only then deletes the upload, which may carry
// patient data. Input it cannot use gets "Job Rejected" with a code and a
// message a person can act on, and the upload is deleted too: a rejected
// DICOM series carries patient data all the same.
//
// Every step is safe to repeat, and the upload is deleted last, so the
// platform's redelivery after a crash or a transient error (the handler
// returns it) finishes the job: a redelivered event whose upload is gone
// but whose volume exists emits "Job Accepted" and the DispatchRequest
// again, both idempotent downstream.
//
// Ingest writes no job record: for a file dropped without a job folder the
// status stage creates it from "Job Accepted" or "Job Rejected".
type Ingest struct {
	Blobs Blobs
	Bus   Bus
	Queue Queue // the jobs queue
	Now   Clock
	Log   *slog.Logger
	// MaxUploadBytes caps the upload; 0 means DefaultMaxUploadBytes.
	MaxUploadBytes int64
	// MaxVolumeBytes caps the decoded input (scan.Options.MaxBytes); 0
	// means the readers' defaults.
	MaxVolumeBytes int64
	// TempDir holds the upload and the volume while they are worked on;
	// "" means os.TempDir().
	TempDir string
}

// Handle ingests the upload an S3 "Object Created" event announces. It
// returns an error only for what a redelivery may cure (the blob store,
// bus or queue failing, the context ending); events it cannot use are
// logged and dropped.
func (in *Ingest) Handle(ctx context.Context, ev events.Event) error {
	obj, key, err := objectCreated(ev)
	if err != nil || key.Prefix != events.PrefixUploads {
		logOr(in.Log).Warn("ingest: ignoring event", "event", ev.ID, "detailType", ev.DetailType, "err", err, "key", key)
		return nil
	}
	id := key.JobID
	if id == "" {
		id = events.DropJobID(obj.Object.Key, obj.Object.ETag)
	}
	log := logOr(in.Log).With("stage", StageIngest, "job", id, "key", obj.Object.Key)
	name := key.Rest
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return in.ingest(ctx, log, id, obj.Object.Key, name, obj.Object.Size)
}

func (in *Ingest) ingest(ctx context.Context, log *slog.Logger, id, upKey, name string, eventSize int64) error {
	max := in.MaxUploadBytes
	if max <= 0 {
		max = DefaultMaxUploadBytes
	}
	f, info, err := spool(ctx, in.Blobs, upKey, in.TempDir, "iris-upload-*", max)
	var big *errTooBig
	switch {
	case missing(err):
		return in.resume(ctx, log, id, name, eventSize)
	case errors.As(err, &big):
		code, msg := classify(err, false)
		return in.reject(ctx, log, id, upKey, code, msg)
	case err != nil:
		return fmt.Errorf("ingest job %s: %w", id, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if info.Size == 0 {
		return in.reject(ctx, log, id, upKey, CodeEmpty, emptyAdvice)
	}
	input, err := in.convert(ctx, id, f, info.Size, name)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errTransient) {
			return fmt.Errorf("ingest job %s: %w", id, err)
		}
		code, msg := classify(err, looksNIfTI(f))
		return in.reject(ctx, log, id, upKey, code, msg)
	}
	return in.accept(ctx, log, id, *input, upKey)
}

// errTransient marks convert's failures that are not the input's fault.
var errTransient = errors.New("transient")

// convert opens the upload, checks it is a CT and stores the volume. Its
// errors describe the input unless they wrap errTransient.
func (in *Ingest) convert(ctx context.Context, id string, f *os.File, size int64, name string) (*events.Input, error) {
	s, err := scan.Read(ctx, f, size, scan.Options{MaxBytes: in.MaxVolumeBytes})
	if err != nil {
		return nil, err
	}
	if err := segment.CheckCT(s.CT); err != nil {
		return nil, err
	}
	input := &events.Input{
		Format:      s.Format,
		File:        name,
		Bytes:       size,
		Dims:        s.CT.Dims,
		SpacingMm:   s.CT.Spacing(),
		Orientation: s.CT.Affine.Orientation(),
	}
	if s.DICOM != nil {
		input.Series = seriesLine(s.DICOM.Summary())
	}
	if err := in.putVolume(ctx, id, s.CT); err != nil {
		return nil, fmt.Errorf("%w: %w", errTransient, err)
	}
	return input, nil
}

// seriesLine is the first line of a DICOM conversion summary: the series
// chosen and why.
func seriesLine(summary string) string {
	line, _, _ := strings.Cut(summary, "\n")
	return strings.TrimPrefix(line, "series: ")
}

// looksNIfTI tells whether the spooled upload begins like a NIfTI file.
func looksNIfTI(f *os.File) bool {
	head := make([]byte, 352)
	n, _ := f.ReadAt(head, 0)
	return scan.Sniff(head[:n]) == scan.NIfTI
}

// putVolume writes ct as volumes/{id}/ct.nii.gz: NIfTI-1, int16 HU, no
// descrip and no extensions, so nothing of the upload's headers survives.
// It is encoded to a temporary file first, since the store wants a size.
func (in *Ingest) putVolume(ctx context.Context, id string, ct *volume.CT) error {
	f, err := os.CreateTemp(in.TempDir, "iris-volume-*.nii.gz")
	if err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := volume.WriteCT(f, ct); err != nil {
		return err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		return fmt.Errorf("write volume: %w", err)
	}
	key := events.VolumeKey(id)
	if err := in.Blobs.Put(ctx, key, f, size, "application/gzip"); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// accept announces the job, queues its segmentation and then deletes the
// upload (upKey "" keeps it). Each step is idempotent downstream.
func (in *Ingest) accept(ctx context.Context, log *slog.Logger, id string, input events.Input, upKey string) error {
	now := nowOr(in.Now)
	vk := events.VolumeKey(id)
	if err := publish(ctx, in.Bus, now, events.JobAccepted, id, events.Accepted{JobID: id, VolumeKey: vk, Input: input}); err != nil {
		return err
	}
	body, err := json.Marshal(DispatchRequest{JobID: id, VolumeKey: vk})
	if err != nil {
		return fmt.Errorf("encode dispatch request: %w", err)
	}
	if err := in.Queue.Send(ctx, body); err != nil {
		return fmt.Errorf("queue job %s: %w", id, err)
	}
	if err := in.deleteUpload(ctx, upKey); err != nil {
		return err
	}
	log.Info("ingest: accepted", "format", input.Format, "dims", input.Dims, "spacingMm", input.SpacingMm, "bytes", input.Bytes)
	return nil
}

// reject announces why the upload cannot be used, then deletes it.
func (in *Ingest) reject(ctx context.Context, log *slog.Logger, id, upKey, code, msg string) error {
	f := events.Failure{JobID: id, Stage: StageIngest, Code: code, Message: msg}
	if err := publish(ctx, in.Bus, nowOr(in.Now), events.JobRejected, id, f); err != nil {
		return err
	}
	if err := in.deleteUpload(ctx, upKey); err != nil {
		return err
	}
	log.Info("ingest: rejected", "code", code, "message", msg)
	return nil
}

func (in *Ingest) deleteUpload(ctx context.Context, key string) error {
	if key == "" {
		return nil
	}
	if err := in.Blobs.Delete(ctx, key); err != nil && !missing(err) {
		return fmt.Errorf("delete upload %s: %w", key, err)
	}
	return nil
}

// resume handles a redelivered event whose upload is gone. The upload is
// deleted only after the job was announced and queued, so if the volume
// exists both happened; they are repeated in case the delivery that did
// them is the one being retried. The input facts come from the volume's
// header; the original format and series description are not kept.
// Without a volume the upload was rejected (or never existed): done.
func (in *Ingest) resume(ctx context.Context, log *slog.Logger, id, name string, size int64) error {
	vk := events.VolumeKey(id)
	rc, _, err := in.Blobs.Get(ctx, vk)
	if missing(err) {
		log.Info("ingest: upload already gone and no volume: handled before")
		return nil
	}
	if err != nil {
		return fmt.Errorf("ingest job %s: get %s: %w", id, vk, err)
	}
	h, err := volume.ReadHeader(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("ingest job %s: read %s: %w", id, vk, err)
	}
	log.Info("ingest: upload already gone, volume stored: announcing again")
	input := events.Input{File: name, Bytes: size, Dims: h.Dims, SpacingMm: h.Spacing(), Orientation: h.Affine.Orientation()}
	return in.accept(ctx, log, id, input, "")
}
