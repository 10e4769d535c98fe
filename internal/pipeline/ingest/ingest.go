package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/pipeline/dispatch"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

// Ingest turns an upload into the pipeline's input. For each S3 "Object
// Created" event under uploads/ it reads the file (recognised by content),
// checks that it is a CT, writes the de-identified volume to
// volumes/{job}/ct.nii.gz, emits "Job Accepted", sends a dispatch.Request
// to the jobs queue and only then deletes the upload, which may carry
// patient data. Input it cannot use gets "Job Rejected" with a code and a
// message a person can act on, and the upload is deleted too: a rejected
// DICOM series carries patient data all the same.
//
// What an event's key means:
//   - uploads/{file}: a file dropped on its own; its job id comes from the
//     key and ETag (events.DropJobID).
//   - uploads/{job}/{file} where {job} has the API's id shape (a job the
//     API created and signed the upload of): that job, read at once.
//   - uploads/{folder}/{file} holding a NIfTI or zip (by content): a
//     single-file upload into that job folder, as before folders grouped.
//   - anything else under uploads/{folder}/ (DICOM slices, subfolders,
//     other files): a member of a dropped folder. See HandleGroupBatch.
//
// Every step is safe to repeat, and the upload is deleted last, so the
// platform's redelivery after a crash or a transient error (the handler
// returns it) finishes the job: a redelivered event whose upload is gone
// but whose volume exists emits "Job Accepted" and the dispatch.Request
// again, both idempotent downstream.
//
// Ingest writes no job record: for a file dropped without a job folder the
// status stage creates it from "Job Accepted" or "Job Rejected".
type Ingest struct {
	Blobs ports.Blobs
	Bus   ports.Bus
	Queue ports.Queue // the jobs queue
	Now   ports.Clock
	Log   *slog.Logger
	// Groups carries the settle checks of dropped folders, delayed. nil
	// means no grouping: each file of a folder is ingested alone.
	Groups ports.DelayedQueue
	// Settle is how long a dropped folder must stay unchanged before it is
	// read as one upload; 0 means DefaultSettle. At most ports.MaxDelay.
	Settle time.Duration
	// Pool holds the limits and shares the memory among concurrent
	// ingests; nil means one made from limits.Machine().
	Pool *limits.Pool
	// Large, if set, takes the events of uploads over LargeBytes off the
	// delivery that brought them: Handle sends them on to Large and returns,
	// and HandleLargeBatch ingests them on consumers of their own, so a
	// small upload never waits behind large ones. nil: every upload is
	// ingested where its event arrives (on AWS each invocation has a
	// function instance of its own).
	Large      ports.Queue
	LargeBytes int64
	// TempDir holds the upload and the volume while they are worked on;
	// "" means os.TempDir().
	TempDir string

	poolOnce sync.Once
	pool     *limits.Pool
}

// DefaultSettle is Ingest.Settle when it is 0: longer than one slice of a
// series takes to upload, short enough not to be noticed.
const DefaultSettle = 10 * time.Second

// memoryMargin is reserved for a job beyond its voxels: the encoder's
// buffers, DICOM headers, the runtime's slack.
const memoryMargin = 64 << 20

func (in *Ingest) limits() *limits.Pool {
	in.poolOnce.Do(func() {
		in.pool = in.Pool
		if in.pool == nil {
			in.pool = limits.NewPool(limits.Machine())
		}
	})
	return in.pool
}

// apiJobIDRe is the shape of the ids the API makes (api.NewJobID: 26
// characters of base32hex, lower case). A folder so named is a job the API
// created; a person's folder is not named like that.
var apiJobIDRe = regexp.MustCompile(`^[0-9a-v]{26}$`)

// Handle ingests the upload an S3 "Object Created" event announces. It
// returns an error only for what a redelivery may cure (the blob store,
// bus or queue failing, the context ending); events it cannot use are
// logged and dropped.
func (in *Ingest) Handle(ctx context.Context, ev events.Event) error {
	obj, err := uploadCreated(ev)
	if err != nil {
		stage.LogOr(in.Log).Warn("ingest: ignoring event", "event", ev.ID, "detailType", ev.DetailType, "err", err)
		return nil
	}
	if in.Large != nil && obj.Object.Size > in.LargeBytes {
		body, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", ev.ID, err)
		}
		if err := in.Large.Send(ctx, body); err != nil {
			return fmt.Errorf("pass %s to the large-upload queue: %w", obj.Object.Key, err)
		}
		return nil
	}
	return in.handle(ctx, obj)
}

// HandleLargeBatch ingests the events Handle passed to the Large queue,
// with SQS partial batch semantics: it returns the ids of the messages to
// retry.
func (in *Ingest) HandleLargeBatch(ctx context.Context, msgs []ports.Message) ([]string, error) {
	var failed []string
	for _, m := range msgs {
		ev, err := stage.DecodeQueuedEvent(m.Body)
		var obj events.S3Object
		if err == nil {
			obj, err = uploadCreated(ev)
		}
		if err != nil {
			stage.LogOr(in.Log).Warn("ingest: ignoring a large-upload message", "message", m.ID, "err", err)
			continue
		}
		if err := in.handle(ctx, obj); err != nil {
			stage.LogOr(in.Log).Warn("ingest: large upload failed; will retry", "message", m.ID, "attempt", m.ReceiveCount, "err", err)
			failed = append(failed, m.ID)
		}
	}
	return failed, nil
}

func (in *Ingest) handle(ctx context.Context, obj events.S3Object) error {
	key := obj.Object.Key
	rest := strings.TrimPrefix(key, events.PrefixUploads)
	folder, name, nested := strings.Cut(rest, "/")
	if !nested { // a file dropped on its own
		id := events.DropJobID(key, obj.Object.ETag)
		return in.ingest(ctx, in.jobLog(id, key), id, key, rest, obj.Object.Size)
	}
	if events.ValidJobID(folder) && !strings.Contains(name, "/") {
		single := apiJobIDRe.MatchString(folder) || in.Groups == nil
		if !single {
			kind, err := in.sniff(ctx, key)
			switch {
			case stage.Missing(err):
				single = true // gone: resume as a job folder would
			case err != nil:
				return fmt.Errorf("ingest %s: %w", key, err)
			default:
				single = kind == scan.NIfTI || kind == scan.DICOM // a NIfTI, or a zip
			}
		}
		if single {
			return in.ingest(ctx, in.jobLog(folder, key), folder, key, name, obj.Object.Size)
		}
	}
	if in.Groups == nil {
		stage.LogOr(in.Log).Warn("ingest: a file in a dropped folder, and no groups queue to gather the folder; ignoring", "key", key)
		return nil
	}
	// The check carries the folder as it is now: if nothing changed when
	// it runs, Settle later, the folder is quiet.
	c := groupCheck{Prefix: events.PrefixUploads + folder + "/", Key: key}
	members, err := in.Blobs.List(ctx, c.Prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", c.Prefix, err)
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Key < members[j].Key })
	c.Seen = fingerprint(members)
	return in.sendCheck(ctx, c, in.settle())
}

func (in *Ingest) jobLog(id, key string) *slog.Logger {
	return stage.LogOr(in.Log).With("stage", stage.Ingest, "job", id, "key", key)
}

// uploadCreated decodes an S3 "Object Created" event for a key under
// uploads/ in the bucket's alphabet. Unlike events.ParseKey it accepts any
// folder name below uploads/ (a person's folder need not be a job id).
func uploadCreated(ev events.Event) (events.S3Object, error) {
	var obj events.S3Object
	if ev.Source != events.SourceS3 || ev.DetailType != events.ObjectCreated {
		return obj, fmt.Errorf("event %s is %q from %q, not an S3 Object Created", ev.ID, ev.DetailType, ev.Source)
	}
	if err := ev.DecodeDetail(&obj); err != nil {
		return obj, err
	}
	return obj, checkUploadKey(obj.Object.Key)
}

func checkUploadKey(key string) error {
	rest, ok := strings.CutPrefix(key, events.PrefixUploads)
	if !ok || rest == "" || strings.HasSuffix(rest, "/") {
		return fmt.Errorf("%w: %q is not a file under %s", events.ErrBadKey, key, events.PrefixUploads)
	}
	// Checked as if under a valid job folder: the alphabet, no "..", no "//".
	_, err := events.ParseKey(events.PrefixUploads + "folder/" + rest)
	return err
}

// sniff names the format of the object at key from its first bytes.
func (in *Ingest) sniff(ctx context.Context, key string) (string, error) {
	rc, _, err := in.Blobs.Get(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	head := make([]byte, 352)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return scan.Sniff(head[:n]), nil
}

func (in *Ingest) settle() time.Duration {
	if in.Settle <= 0 {
		return DefaultSettle
	}
	return min(in.Settle, ports.MaxDelay)
}

func (in *Ingest) ingest(ctx context.Context, log *slog.Logger, id, upKey, name string, eventSize int64) error {
	// A job's volume is written once. If it exists, this upload came
	// after the job was accepted (a second PUT with the job's upload URL,
	// which S3's If-None-Match lets through once the first upload is
	// deleted), or this event is a redelivery after a crash that followed
	// the volume's write. Either way the stored volume stands: the job is
	// announced again from it and the upload deleted, unread.
	// (Ingest of a dropped folder does the same.) The format is told
	// from the upload's first bytes; a DICOM series' description is lost.
	// A label map's job has its segmentation, stored by the ingest, and
	// no volume: that stands the same way.
	if f, ok, err := in.storedRejection(ctx, id); err != nil {
		return fmt.Errorf("ingest job %s: %w", id, err)
	} else if ok {
		// The job failed at ingest: it is over. Another upload (the
		// same URL once the rejected upload was deleted, or a redelivery)
		// is deleted unread and the rejection announced again.
		log.Info("ingest: the job was rejected already: announcing it again and deleting the upload, unread", "code", f.Code)
		return in.announceRejection(ctx, log, id, deleteKeys(in.Blobs, upKey), f)
	}
	for _, k := range []string{events.VolumeKey(id), events.SegmentationKey(id)} {
		if ok, err := stage.Exists(ctx, in.Blobs, k); err != nil {
			return fmt.Errorf("ingest job %s: %w", id, err)
		} else if ok {
			format, _ := in.sniff(ctx, upKey)
			return in.resume(ctx, log, id, name, format, eventSize, deleteKeys(in.Blobs, upKey))
		}
	}
	lim := in.limits().Limits()
	f, info, err := stage.Spool(ctx, in.Blobs, upKey, in.TempDir, "iris-upload-*", lim.Upload)
	var big *stage.TooBig
	switch {
	case stage.Missing(err):
		return in.resume(ctx, log, id, name, "", eventSize, nil)
	case errors.As(err, &big):
		code, msg := Classify(&limits.TooLarge{What: "the upload", Need: big.Size, Limit: big.Max}, false)
		return in.reject(ctx, log, id, deleteKeys(in.Blobs, upKey), code, msg)
	case err != nil:
		return fmt.Errorf("ingest job %s: %w", id, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if info.Size == 0 {
		return in.reject(ctx, log, id, deleteKeys(in.Blobs, upKey), CodeEmpty, emptyAdvice)
	}
	input, lmFile, err := in.convert(ctx, id, name, info.Size, func(opt scan.Options) (*scan.Scan, error) {
		return scan.Read(ctx, f, info.Size, opt)
	})
	if lmFile != "" {
		defer os.Remove(lmFile)
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errTransient) {
			return fmt.Errorf("ingest job %s: %w", id, err)
		}
		code, msg := Classify(err, looksNIfTI(f))
		return in.reject(ctx, log, id, deleteKeys(in.Blobs, upKey), code, msg)
	}
	input.File, input.Bytes = name, info.Size
	return in.accept(ctx, log, id, *input, lmFile, deleteKeys(in.Blobs, upKey))
}

// errTransient marks convert's failures that are not the input's fault.
var errTransient = errors.New("transient")

// convert opens the upload (name, of size bytes) with read, checks it is a
// CT and stores the input facts and the volume, in that order, so that a
// stored volume always has its facts beside it (see resume). Before any voxel is read, the headers' need is checked against
// the limits and reserved from the pool, until the volume is stored. Its
// errors describe the input unless they wrap errTransient.
//
// An upload that is a label map by content (scan.LabelMapOf) is not a CT
// to segment but a segmentation already made: no volume is stored, the
// input's Kind is events.KindLabelMap, and lmFile names a temporary file
// (the caller removes it) holding the label map as the mesher reads it,
// which accept stores as the job's segmentation once the job is announced.
func (in *Ingest) convert(ctx context.Context, id, name string, size int64, read func(scan.Options) (*scan.Scan, error)) (input *events.Input, lmFile string, err error) {
	pool := in.limits()
	lim := pool.Limits()
	var release func()
	defer func() {
		if release != nil {
			release()
		}
	}()
	opt := scan.Options{MaxBytes: lim.Upload, MaxGzipRatio: lim.GzipRatio, LabelMaps: true, Check: func(n scan.Need) error {
		return limits.Check("the decoded volume", n.Stored, lim.Volume)
	}, Admit: func(n scan.Need) error {
		r, err := pool.Reserve(ctx, "the memory the volume needs", n.Peak+memoryMargin)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%w: %w", errTransient, err)
			}
			return err
		}
		release = r
		return nil
	}}
	s, err := read(opt)
	if err != nil {
		return nil, "", err
	}
	if s.Labels != nil {
		return in.labelMapInput(s)
	}
	if err := segment.CheckCT(s.CT); err != nil {
		return nil, "", err
	}
	input = &events.Input{
		File:        name,
		Bytes:       size,
		Format:      s.Format,
		Dims:        s.CT.Dims,
		SpacingMm:   s.CT.Spacing(),
		Orientation: s.CT.Affine.Orientation(),
	}
	if s.DICOM != nil {
		input.Series = seriesLine(s.DICOM.Summary())
	}
	if err := in.putInput(ctx, id, *input); err != nil {
		return nil, "", fmt.Errorf("%w: %w", errTransient, err)
	}
	if err := in.putVolume(ctx, id, s.CT); err != nil {
		return nil, "", fmt.Errorf("%w: %w", errTransient, err)
	}
	return input, "", nil
}

// labelMapInput describes an uploaded label map and writes it, with its
// label table and nothing else of its headers, to a temporary file.
func (in *Ingest) labelMapInput(s *scan.Scan) (*events.Input, string, error) {
	lm := s.Labels
	input := &events.Input{
		Format:      s.Format,
		Kind:        events.KindLabelMap,
		Dims:        lm.Dims,
		SpacingMm:   lm.Spacing(),
		Orientation: lm.Affine.Orientation(),
		Labels:      len(labels.Present(lm.Data)),
	}
	f, err := os.CreateTemp(in.TempDir, "iris-labels-*.nii.gz")
	if err != nil {
		return nil, "", fmt.Errorf("%w: write label map: %w", errTransient, err)
	}
	defer f.Close()
	if err := volume.WriteLabelMap(f, lm); err != nil {
		os.Remove(f.Name())
		return nil, "", fmt.Errorf("%w: write label map: %w", errTransient, err)
	}
	return input, f.Name(), nil
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

// InputKey is where ingest keeps a job's input facts (events.Input, as
// JSON) beside its volume, so that a redelivered upload event whose upload
// is gone announces the job with the same facts as the first time.
func InputKey(id string) string { return events.PrefixVolumes + id + "/" + inputFile }

const inputFile = "input.json"

// putInput writes the input facts to InputKey.
func (in *Ingest) putInput(ctx context.Context, id string, input events.Input) error {
	b, err := json.Marshal(input)
	if err != nil {
		return fmt.Errorf("encode input of job %s: %w", id, err)
	}
	key := InputKey(id)
	if err := in.Blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// storedInput reads the input facts putInput wrote; ok is false when
// there are none (a volume stored before they were kept).
func (in *Ingest) storedInput(ctx context.Context, id string) (input events.Input, ok bool, err error) {
	key := InputKey(id)
	b, err := stage.ReadSmall(ctx, in.Blobs, key, 64<<10)
	if stage.Missing(err) {
		return input, false, nil
	}
	if err != nil {
		return input, false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &input); err != nil {
		return input, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return input, true, nil
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

// cleanup deletes what was uploaded, once the outcome is announced.
type cleanup func(ctx context.Context) error

// deleteKeys deletes keys in order; a key already gone is fine.
func deleteKeys(blobs ports.Blobs, keys ...string) cleanup {
	return func(ctx context.Context) error {
		for _, k := range keys {
			if err := blobs.Delete(ctx, k); err != nil && !stage.Missing(err) {
				return fmt.Errorf("delete upload %s: %w", k, err)
			}
		}
		return nil
	}
}

// accept announces the job, queues its segmentation and then deletes the
// upload (done nil keeps it). Each step is idempotent downstream.
//
// A label map (input.Kind events.KindLabelMap) is not segmented: once the
// job is announced, the label map in lmFile is stored as the job's
// segmentation, whose arrival the mesh queue and the status stage see as
// they see a segmenter's output. lmFile is "" when it was stored before
// (a redelivery).
func (in *Ingest) accept(ctx context.Context, log *slog.Logger, id string, input events.Input, lmFile string, done cleanup) error {
	now := stage.NowOr(in.Now)
	vk := events.VolumeKey(id)
	a := events.Accepted{JobID: id, VolumeKey: vk, Input: input}
	if input.Kind == events.KindLabelMap {
		a.VolumeKey, a.SegmentationKey = "", events.SegmentationKey(id)
	}
	if err := stage.Publish(ctx, in.Bus, now, events.JobAccepted, id, a); err != nil {
		return err
	}
	if input.Kind == events.KindLabelMap {
		return in.acceptLabelMap(ctx, log, id, input, lmFile, done)
	}
	body, err := json.Marshal(dispatch.Request{JobID: id, VolumeKey: vk})
	if err != nil {
		return fmt.Errorf("encode dispatch request: %w", err)
	}
	if err := in.Queue.Send(ctx, body); err != nil {
		return fmt.Errorf("queue job %s: %w", id, err)
	}
	if done != nil {
		if err := done(ctx); err != nil {
			return err
		}
	}
	log.Info("ingest: accepted", "format", input.Format, "dims", input.Dims, "spacingMm", input.SpacingMm, "bytes", input.Bytes)
	return nil
}

// acceptLabelMap stores an accepted label map as the job's segmentation,
// then deletes the upload.
func (in *Ingest) acceptLabelMap(ctx context.Context, log *slog.Logger, id string, input events.Input, lmFile string, done cleanup) error {
	if lmFile != "" {
		key := events.SegmentationKey(id)
		if err := stage.PutFile(ctx, in.Blobs, key, lmFile, "application/gzip"); err != nil {
			return fmt.Errorf("ingest job %s: %w", id, err)
		}
	}
	if done != nil {
		if err := done(ctx); err != nil {
			return err
		}
	}
	log.Info("ingest: accepted a label map; no segmentation", "labels", input.Labels, "dims", input.Dims, "spacingMm", input.SpacingMm, "bytes", input.Bytes)
	return nil
}

// reject records why the upload cannot be used (RejectionKey), announces
// it, then deletes the upload. The record comes first, so that a later
// upload to the job, or this event redelivered after a crash, finds the
// job over and announces the same rejection without reading anything.
func (in *Ingest) reject(ctx context.Context, log *slog.Logger, id string, done cleanup, code, msg string) error {
	f := events.Failure{JobID: id, Stage: stage.Ingest, Code: code, Message: msg}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode the rejection of job %s: %w", id, err)
	}
	key := RejectionKey(id)
	if err := in.Blobs.Put(ctx, key, bytes.NewReader(b), int64(len(b)), "application/json"); err != nil {
		return fmt.Errorf("ingest job %s: put %s: %w", id, key, err)
	}
	if err := in.announceRejection(ctx, log, id, done, f); err != nil {
		return err
	}
	log.Info("ingest: rejected", "code", code, "message", msg)
	return nil
}

// announceRejection publishes Job Rejected with f, then runs done.
func (in *Ingest) announceRejection(ctx context.Context, log *slog.Logger, id string, done cleanup, f events.Failure) error {
	if err := stage.Publish(ctx, in.Bus, stage.NowOr(in.Now), events.JobRejected, id, f); err != nil {
		return err
	}
	return done(ctx)
}

// RejectionKey is where ingest records a rejected job's failure
// (events.Failure, as JSON), in the job's volume folder, which deleting
// the job removes.
func RejectionKey(id string) string { return events.PrefixVolumes + id + "/" + rejectionFile }

const rejectionFile = "rejected.json"

// storedRejection reads what reject recorded; ok is false when the job
// was not rejected.
func (in *Ingest) storedRejection(ctx context.Context, id string) (f events.Failure, ok bool, err error) {
	key := RejectionKey(id)
	b, err := stage.ReadSmall(ctx, in.Blobs, key, 64<<10)
	if stage.Missing(err) {
		return f, false, nil
	}
	if err != nil {
		return f, false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return f, true, nil
}

// resume handles a redelivered event whose upload is gone, or an upload
// to a job whose volume is stored already (done deletes it). The upload is
// deleted only after the job was announced and queued, so if the volume
// exists both happened; they are repeated in case the delivery that did
// them is the one being retried, with the input facts stored beside the
// volume (InputKey), so that the announcement is the same as the first
// (format and DICOM series included) whichever of them the status stage
// applies. A volume stored before the facts were kept has only its
// header's: dims, spacing, orientation, and format when the caller knows
// it ("" otherwise); name and size come from the event. done, when set,
// deletes an upload to a job whose volume is stored already. A label
// map's job has no volume but its segmentation, stored by the ingest.
// Without either the upload was rejected (or never existed, or the job
// was deleted): done.
func (in *Ingest) resume(ctx context.Context, log *slog.Logger, id, name, format string, size int64, done cleanup) error {
	vk := events.VolumeKey(id)
	rc, _, err := in.Blobs.Get(ctx, vk)
	if stage.Missing(err) {
		return in.resumeLabelMap(ctx, log, id, name, size, done)
	}
	if err != nil {
		return fmt.Errorf("ingest job %s: get %s: %w", id, vk, err)
	}
	defer rc.Close()
	input, ok, err := in.storedInput(ctx, id)
	if err != nil {
		return fmt.Errorf("ingest job %s: %w", id, err)
	}
	if !ok {
		h, err := volume.ReadHeader(rc)
		if err != nil {
			return fmt.Errorf("ingest job %s: read %s: %w", id, vk, err)
		}
		input = events.Input{File: name, Format: format, Bytes: size, Dims: h.Dims, SpacingMm: h.Spacing(), Orientation: h.Affine.Orientation()}
	}
	if done != nil {
		log.Info("ingest: the job's volume is stored already: announcing it again and deleting the upload, unread", "storedInput", ok)
	} else {
		log.Info("ingest: upload already gone, volume stored: announcing again", "storedInput", ok)
	}
	return in.accept(ctx, log, id, input, "", done)
}

// resumeLabelMap is resume for a job without a volume: a label map's, if
// the ingest stored the label map as its segmentation.
func (in *Ingest) resumeLabelMap(ctx context.Context, log *slog.Logger, id, name string, size int64, done cleanup) error {
	sk := events.SegmentationKey(id)
	rc, _, err := in.Blobs.Get(ctx, sk)
	if stage.Missing(err) {
		log.Info("ingest: no volume and no label map (the upload was rejected, or the job deleted): handled before")
		if done != nil {
			return done(ctx)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ingest job %s: get %s: %w", id, sk, err)
	}
	h, err := volume.ReadHeader(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("ingest job %s: read %s: %w", id, sk, err)
	}
	log.Info("ingest: label map stored already: announcing again", "uploadPresent", done != nil)
	input := events.Input{Format: scan.NIfTI, Kind: events.KindLabelMap, File: name, Bytes: size,
		Dims: h.Dims, SpacingMm: h.Spacing(), Orientation: h.Affine.Orientation()}
	return in.accept(ctx, log, id, input, "", done)
}
