package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
	"github.com/iris-oculus/iris/internal/dicom"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
	"github.com/iris-oculus/iris/internal/ports"
	"github.com/iris-oculus/iris/internal/scan"
)

// A dropped folder — a DICOM series copied file by file into
// uploads/{folder}/ (`aws s3 cp --recursive`, a folder copied into the
// local drop folder) — arrives as one event per file. Ingest gathers it
// into one job once the folder has stayed unchanged for Settle:
//
//   - Each member's event lists the folder and sends a check carrying the
//     listing's fingerprint, delayed by Settle, to the Groups queue (a
//     Lambda cannot sleep through the settle time).
//   - A check lists the folder. Only the check of the leader (the member
//     with the greatest key) goes on; the others end, since the leader has
//     a check of its own. The leader's check compares the listing with the
//     one in the message; until two looks Settle apart agree, it sends
//     itself again, delayed, with the new fingerprint.
//   - A quiet folder is read as one upload (a DICOM series; or the one
//     file it holds), under the job id events.DropJobID(leader key, leader
//     ETag): the same id on every delivery, in every order. Its members are
//     deleted after the outcome is announced, the leader last, so that a
//     check redelivered after a crash still finds the same leader and id,
//     and, finding the volume stored, announces it again and deletes what
//     is left. Files that arrived while the folder was read get a check
//     of their own.
//
// Duplicate or reordered events only add checks that end at once, or that
// repeat idempotent steps.

// groupCheck is a Groups-queue message.
type groupCheck struct {
	Prefix string `json:"prefix"`         // uploads/{folder}/
	Key    string `json:"key"`            // the member whose event sent it
	Seen   string `json:"seen,omitempty"` // the listing's fingerprint at the last look
}

// maxGroupFiles bounds a dropped folder: a thin-sliced whole body is some
// 3,000 slices.
const maxGroupFiles = 20_000

func (in *Ingest) sendCheck(ctx context.Context, c groupCheck, delay time.Duration) error {
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode group check: %w", err)
	}
	if err := in.Groups.SendDelayed(ctx, body, delay); err != nil {
		return fmt.Errorf("schedule check of %s: %w", c.Prefix, err)
	}
	return nil
}

// HandleGroupBatch handles Groups-queue messages as a Lambda with SQS
// partial batch responses does: it returns the ids of the messages to
// retry. A message that cannot be decoded is logged and dropped.
func (in *Ingest) HandleGroupBatch(ctx context.Context, msgs []ports.Message) ([]string, error) {
	var failed []string
	for _, m := range msgs {
		if err := in.HandleGroupCheck(ctx, m.Body); err != nil {
			stage.LogOr(in.Log).Warn("ingest: folder check failed; will retry", "message", m.ID, "attempt", m.ReceiveCount, "err", err)
			failed = append(failed, m.ID)
		}
	}
	return failed, nil
}

// HandleGroupCheck handles one Groups-queue message body. It returns an
// error only for what a retry may cure.
func (in *Ingest) HandleGroupCheck(ctx context.Context, body []byte) error {
	var c groupCheck
	if err := json.Unmarshal(body, &c); err != nil || !validGroup(c) {
		stage.LogOr(in.Log).Warn("ingest: ignoring a malformed folder check", "err", err, "body", len(body))
		return nil
	}
	log := stage.LogOr(in.Log).With("stage", stage.Ingest, "folder", c.Prefix)
	members, err := in.Blobs.List(ctx, c.Prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", c.Prefix, err)
	}
	if len(members) == 0 {
		return nil // read and deleted before
	}
	sort.Slice(members, func(i, j int) bool { return members[i].Key < members[j].Key })
	leader := members[len(members)-1]
	if leader.Key != c.Key {
		return nil // the leader's own check reads the folder
	}
	id := events.DropJobID(leader.Key, leader.ETag)
	log = log.With("job", id)
	keys := make([]string, len(members))
	for i, m := range members {
		keys[len(members)-1-i] = m.Key // leader last
	}
	done := deleteKeys(in.Blobs, keys...)
	name := strings.TrimSuffix(strings.TrimPrefix(c.Prefix, events.PrefixUploads), "/")
	var total int64
	for _, m := range members {
		total += m.Size
	}
	// Accepted before a crash: announce again and finish deleting. (A label
	// map's job has its segmentation, stored by the ingest, and no volume.)
	for _, k := range []string{events.VolumeKey(id), events.SegmentationKey(id)} {
		if ok, err := stage.Exists(ctx, in.Blobs, k); err != nil {
			return fmt.Errorf("ingest folder %s: %w", c.Prefix, err)
		} else if ok {
			return in.resume(ctx, log, id, name, scan.DICOM, total, done)
		}
	}
	if fp := fingerprint(members); fp != c.Seen {
		c.Seen = fp
		return in.sendCheck(ctx, c, in.settle()) // changed since the last look
	}
	if err := in.ingestGroup(ctx, log, id, name, c.Prefix, members, total, done); err != nil {
		return err
	}
	return in.checkLeftovers(ctx, c.Prefix, members)
}

// ingestGroup reads a quiet folder as one upload.
func (in *Ingest) ingestGroup(ctx context.Context, log *slog.Logger, id, name, prefix string, members []ports.BlobInfo, total int64, done cleanup) error {
	lim := in.limits().Limits()
	if len(members) > maxGroupFiles {
		return in.reject(ctx, log, id, done, CodeTooLarge, tooLargeAdvice+
			fmt.Sprintf(" (the folder holds %d files; the limit is %d)", len(members), maxGroupFiles))
	}
	if err := limits.Check("the folder", total, lim.Upload); err != nil {
		code, msg := Classify(err, false)
		return in.reject(ctx, log, id, done, code, msg)
	}
	dir, err := os.MkdirTemp(in.TempDir, "iris-folder-*")
	if err != nil {
		return fmt.Errorf("ingest folder %s: %w", prefix, err)
	}
	defer os.RemoveAll(dir)
	var one string
	for _, m := range members {
		rel := strings.TrimPrefix(m.Key, prefix)
		p := filepath.Join(dir, filepath.FromSlash(path.Clean(rel)))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("ingest folder %s: %w", prefix, err)
		}
		if err := in.fetch(ctx, m.Key, p, lim.Upload); err != nil {
			if stage.Missing(err) {
				return fmt.Errorf("ingest folder %s: %s vanished while it was read: %w", prefix, m.Key, err)
			}
			return fmt.Errorf("ingest folder %s: %w", prefix, err)
		}
		one = p
	}
	read := func(opt scan.Options) (*scan.Scan, error) {
		if len(members) == 1 {
			return scan.ReadFile(ctx, one, opt) // a folder of one NIfTI, zip or file
		}
		return scan.ReadFile(ctx, dir, opt)
	}
	input, lmFile, err := in.convert(ctx, id, name, total, read)
	if lmFile != "" {
		defer os.Remove(lmFile)
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errTransient) {
			return fmt.Errorf("ingest folder %s: %w", prefix, err)
		}
		code, msg := Classify(err, false)
		if errors.Is(err, dicom.ErrNotDICOM) {
			msg = folderAdvice
		}
		return in.reject(ctx, log, id, done, code, msg)
	}
	input.File, input.Bytes = name, total
	return in.accept(ctx, log, id, *input, lmFile, done)
}

const folderAdvice = "A dropped folder is read as one DICOM series, and this one holds no DICOM images. " +
	"Drop the folder of the CT series' image files, or a NIfTI file or zip on its own, outside any folder."

// fetch copies the object at key into a new file at p, refusing more than
// max bytes.
func (in *Ingest) fetch(ctx context.Context, key, p string, max int64) error {
	f, _, err := stage.Spool(ctx, in.Blobs, key, filepath.Dir(p), ".fetch-*", max)
	if err != nil {
		return err
	}
	f.Close()
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("fetch %s: %w", key, err)
	}
	return nil
}

// checkLeftovers gives files that arrived while the folder was read a
// check of their own: the greatest of them leads a new group.
func (in *Ingest) checkLeftovers(ctx context.Context, prefix string, read []ports.BlobInfo) error {
	now, err := in.Blobs.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	seen := make(map[string]bool, len(read))
	for _, m := range read {
		seen[m.Key+"\x00"+m.ETag] = true
	}
	lead := ""
	for _, m := range now {
		if !seen[m.Key+"\x00"+m.ETag] && m.Key > lead {
			lead = m.Key
		}
	}
	if lead == "" {
		return nil
	}
	return in.sendCheck(ctx, groupCheck{Prefix: prefix, Key: lead}, in.settle())
}

// validGroup checks a decoded message: a one-folder prefix under uploads/
// and a key below it.
func validGroup(c groupCheck) bool {
	folder, ok := strings.CutPrefix(c.Prefix, events.PrefixUploads)
	if !ok || !strings.HasSuffix(folder, "/") || strings.Count(folder, "/") != 1 || len(folder) < 2 {
		return false
	}
	return strings.HasPrefix(c.Key, c.Prefix) && checkUploadKey(c.Key) == nil
}

// fingerprint identifies a sorted listing: its keys, ETags and sizes.
func fingerprint(ms []ports.BlobInfo) string {
	h := sha256.New()
	for _, m := range ms {
		fmt.Fprintf(h, "%s\x00%s\x00%d\n", m.Key, m.ETag, m.Size)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
