package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iris-oculus/iris/events"
)

// Errors of a signed upload that may not go ahead.
var (
	// ErrUploadUsed: the job's upload link was used already (one upload
	// per job), or is being used now.
	ErrUploadUsed = errors.New("this job's file was sent already")
	// ErrUploadGone: the job was deleted (before or during the upload).
	ErrUploadGone = errors.New("the job was deleted")
)

// Upload claims make a signed upload URL good for one upload: a PUT claims
// its job's row in upload_claims ('uploading'); a failed PUT gives the
// claim back, so the person can try again; a stored one marks it 'done'
// in the same transaction that publishes the file's event; deleting the
// job's uploads marks it 'deleted', which withdraws a PUT still in flight.

// claimUpload claims the upload of the job that key belongs to.
func (b *DirBlobs) claimUpload(ctx context.Context, key string) (jobID string, err error) {
	bus, _ := b.bus.(*Bus)
	k, err := events.ParseKey(key)
	if err != nil || bus == nil || k.Prefix != events.PrefixUploads || !events.ValidJobID(k.JobID) {
		return "", fmt.Errorf("claim upload %s: not a job's upload key", key)
	}
	res, err := bus.db.sql.ExecContext(ctx,
		`INSERT INTO upload_claims (job_id, key, state, at) VALUES (?, ?, 'uploading', ?) ON CONFLICT (job_id) DO NOTHING`,
		k.JobID, key, bus.db.now().UnixNano())
	if err != nil {
		return "", fmt.Errorf("claim upload %s: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var state string
		err := bus.db.sql.QueryRowContext(ctx, `SELECT state FROM upload_claims WHERE job_id = ?`, k.JobID).Scan(&state)
		if err == nil && state == "deleted" {
			return "", ErrUploadGone
		}
		return "", ErrUploadUsed
	}
	return k.JobID, nil
}

// releaseUpload gives back the claim of a PUT that failed.
func (b *DirBlobs) releaseUpload(jobID string) {
	if bus, _ := b.bus.(*Bus); bus != nil {
		bus.db.sql.Exec(`DELETE FROM upload_claims WHERE job_id = ? AND state = 'uploading'`, jobID)
	}
}

// PutUpload stores a signed upload under its one-upload claim: it fails
// with ErrUploadUsed or ErrUploadGone, and otherwise as Put does.
//
// Without a *Bus there is no database to claim in: it is a plain Put.
func (b *DirBlobs) PutUpload(ctx context.Context, key string, r io.Reader, size int64) error {
	if _, ok := b.bus.(*Bus); !ok {
		return b.Put(ctx, key, r, size, "application/octet-stream")
	}
	id, err := b.claimUpload(ctx, key)
	if err != nil {
		return err
	}
	b.fault("claimed", key)
	err = b.put(ctx, key, r, size, func(tx *sql.Tx) error {
		res, err := tx.Exec(`UPDATE upload_claims SET state = 'done' WHERE job_id = ? AND state = 'uploading'`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrUploadGone
		}
		return nil
	})
	if err != nil {
		b.releaseUpload(id)
	}
	return err
}

// RemovePrefix implements api.PrefixRemover: it removes the folder of a
// prefix that ends in "/" ("uploads/{job}/"), temporary files of writes in
// flight included, and withdraws the upload in flight of the job whose
// uploads it removes. A missing folder is not an error.
func (b *DirBlobs) RemovePrefix(ctx context.Context, prefix string) error {
	if !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("remove prefix %q: not a folder", prefix)
	}
	dir, err := b.Path(strings.TrimSuffix(prefix, "/"))
	if err != nil {
		return fmt.Errorf("remove prefix: %w", err)
	}
	if k, err := events.ParseKey(prefix + "x"); err == nil && k.Prefix == events.PrefixUploads && events.ValidJobID(k.JobID) {
		if bus, _ := b.bus.(*Bus); bus != nil {
			if _, err := bus.db.sql.ExecContext(ctx,
				`INSERT INTO upload_claims (job_id, key, state, at) VALUES (?, ?, 'deleted', ?)
				 ON CONFLICT (job_id) DO UPDATE SET state = 'deleted'`, k.JobID, prefix, bus.db.now().UnixNano()); err != nil {
				return fmt.Errorf("remove prefix %s: %w", prefix, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove prefix %s: %w", prefix, err)
	}
	b.prune(filepath.Dir(dir))
	return nil
}

// SweepReport counts what SweepWork removed.
type SweepReport struct {
	Partial  int // temporary files of writes a crash interrupted
	Spooled  int // entries of the work folder
	Orphans  int // job folders of jobs that have no record
	Released int // upload claims of PUTs a crash interrupted
}

// SweepWork removes, at start and while no other process uses the data,
// what no live job owns: the temporary files of writes a crash cut short
// (".name.*.tmp" anywhere in the bucket), everything in the work folder
// tmp (spooled uploads, meshing scratch), the folders of job ids that have
// no record and are older than grace (a record may still be on its way
// through the bus for a younger one), and the claims of PUTs in flight.
// hasJob reports whether a job record exists.
func (b *DirBlobs) SweepWork(ctx context.Context, tmp string, grace time.Duration, hasJob func(ctx context.Context, id string) (bool, error)) (SweepReport, error) {
	var r SweepReport
	err := filepath.WalkDir(b.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && isTempName(d.Name()) {
			if err := os.Remove(p); err == nil {
				r.Partial++
				b.prune(filepath.Dir(p))
			}
		}
		return nil
	})
	if err != nil {
		return r, fmt.Errorf("sweep %s: %w", b.root, err)
	}
	if tmp != "" {
		ents, err := os.ReadDir(tmp)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r, fmt.Errorf("sweep %s: %w", tmp, err)
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
				return r, fmt.Errorf("sweep %s: %w", tmp, err)
			}
			r.Spooled++
		}
	}
	if hasJob != nil {
		cutoff := time.Now().Add(-grace)
		for _, prefix := range []string{events.PrefixUploads, events.PrefixVolumes, events.PrefixSegmentations, events.PrefixSegmentationFailures, events.PrefixResults} {
			dir := filepath.Join(b.root, filepath.FromSlash(strings.TrimSuffix(prefix, "/")))
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				id := e.Name()
				if !e.IsDir() || !events.ValidJobID(id) || prefix == events.PrefixUploads && !apiJobID(id) {
					continue // a dropped file or folder, or not a job's folder
				}
				fi, err := e.Info()
				if err != nil || fi.ModTime().After(cutoff) {
					continue
				}
				ok, err := hasJob(ctx, id)
				if err != nil {
					return r, fmt.Errorf("sweep: %w", err)
				}
				if !ok {
					if err := b.RemovePrefix(ctx, prefix+id+"/"); err != nil {
						return r, fmt.Errorf("sweep: %w", err)
					}
					r.Orphans++
				}
			}
		}
	}
	if bus, _ := b.bus.(*Bus); bus != nil {
		res, err := bus.db.sql.ExecContext(ctx, `DELETE FROM upload_claims WHERE state = 'uploading'`)
		if err != nil {
			return r, fmt.Errorf("sweep upload claims: %w", err)
		}
		n, _ := res.RowsAffected()
		r.Released = int(n)
	}
	return r, nil
}

// isTempName reports whether name is one of write's temporary files.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")
}

// apiJobID reports whether id has the form of the API's job ids (26
// characters of lower-case base32hex), which a person's drop folder in
// uploads/ is most unlikely to have.
func apiJobID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'v') {
			return false
		}
	}
	return true
}
