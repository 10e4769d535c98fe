package nnunet

import (
	"archive/zip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Task names a published TotalSegmentator model: where its weights are
// released and which folder of nnU-Net results they unpack to.
type Task struct {
	ID      int
	Name    string // TotalSegmentator's task and mode, e.g. "total --fast"
	Dataset string // nnU-Net dataset folder, e.g. Dataset297_TotalSegmentator_total_3mm_1559subj
	Trainer string // <trainer>__<plans>__<configuration>
	URL     string // release asset, a zip holding Dataset/
	// SHA256 of the zip, hex; "" when not pinned. The release is not
	// reachable from where this port was written, so task 297's hash is
	// not pinned here: the hash of the first download is recorded beside
	// the weights and checked on every later use (trust on first use),
	// and a known hash can be given to WeightsOptions.SHA256.
	SHA256  string
	Licence string
}

// TotalFast is TotalSegmentator's "total" task in --fast mode: task 297,
// nnU-Net 3d_fullres at 3 mm, 117 classes, release v2.0.0-weights
// (TotalSegmentator map_tasks_config.py and libs.py, HEAD 0e65a448).
var TotalFast = Task{
	ID:      297,
	Name:    "total --fast",
	Dataset: "Dataset297_TotalSegmentator_total_3mm_1559subj",
	Trainer: "nnUNetTrainer_4000epochs_NoMirroring__nnUNetPlans__3d_fullres",
	URL:     "https://github.com/wasserth/TotalSegmentator/releases/download/v2.0.0-weights/Dataset297_TotalSegmentator_total_3mm_1559subj.zip",
	Licence: "Apache-2.0 (TotalSegmentator, task \"total\"; cite Wasserthal et al., Radiology: AI 2023)",
}

// WeightsOptions says where to look for and put a task's weights.
type WeightsOptions struct {
	// Dir is the cache folder weights are downloaded into; "" means
	// DefaultWeightsDir().
	Dir string
	// TotalSegmentatorHome is a TotalSegmentator home whose
	// nnunet/results already holds the weights; "" means
	// $TOTALSEG_HOME_DIR, else ~/.totalsegmentator. Set "-" to skip.
	TotalSegmentatorHome string
	// Download allows fetching the release when no copy is found.
	Download bool
	// SHA256 overrides Task.SHA256.
	SHA256 string
	// Client is the HTTP client; nil means one with no overall timeout
	// (the download is bounded by ctx).
	Client *http.Client
	// Progress is told bytes downloaded of the total (-1 when unknown).
	Progress func(done, total int64)
	// Log is told, once, where the weights come from and their licence.
	Log func(msg string)
	// MaxBytes bounds the download and the unpacked size; 0 means 4 GiB.
	MaxBytes int64
}

// DefaultWeightsDir is <user cache dir>/iris/nnunet.
func DefaultWeightsDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "iris", "nnunet")
}

// sourceFile records, beside downloaded weights, where they came from.
const sourceFile = "iris-source.json"

type source struct {
	URL    string    `json:"url"`
	SHA256 string    `json:"sha256"`
	Time   time.Time `json:"time"`
}

// ResolveWeights returns the model folder of task (…/<Dataset>/<Trainer>),
// looking in order at: opts.Dir, an existing TotalSegmentator home, and
// (if allowed) the release URL, downloaded into opts.Dir. Downloaded
// weights are checked against the pinned or recorded SHA-256.
func ResolveWeights(ctx context.Context, task Task, opts WeightsOptions) (string, error) {
	dir := opts.Dir
	if dir == "" {
		dir = DefaultWeightsDir()
	}
	logf := func(format string, a ...any) {
		if opts.Log != nil {
			opts.Log(fmt.Sprintf(format, a...))
		}
	}
	model := filepath.Join(dir, task.Dataset, task.Trainer)
	if hasModel(model) {
		if err := checkRecorded(filepath.Join(dir, task.Dataset), opts.SHA256, task.SHA256); err != nil {
			return "", err
		}
		logf("TotalSegmentator task %d (%s) weights: %s; licence: %s", task.ID, task.Name, model, task.Licence)
		return model, nil
	}
	if home := totalSegHome(opts.TotalSegmentatorHome); home != "" {
		m := filepath.Join(home, "nnunet", "results", task.Dataset, task.Trainer)
		if hasModel(m) {
			logf("TotalSegmentator task %d (%s) weights: %s (TotalSegmentator's own copy); licence: %s", task.ID, task.Name, m, task.Licence)
			return m, nil
		}
	}
	if !opts.Download {
		return "", fmt.Errorf("weights for TotalSegmentator task %d not found in %s; allow the download or run TotalSegmentator once", task.ID, dir)
	}
	logf("downloading TotalSegmentator task %d (%s) weights from %s into %s; licence: %s", task.ID, task.Name, task.URL, dir, task.Licence)
	if err := download(ctx, task, dir, opts); err != nil {
		return "", err
	}
	if !hasModel(model) {
		return "", fmt.Errorf("weights zip from %s does not hold %s/%s", task.URL, task.Dataset, task.Trainer)
	}
	return model, nil
}

func hasModel(dir string) bool {
	for _, f := range []string{"plans.json", "dataset.json", filepath.Join("fold_0", "checkpoint_final.pth")} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || !st.Mode().IsRegular() {
			return false
		}
	}
	return true
}

func totalSegHome(h string) string {
	switch h {
	case "-":
		return ""
	case "":
		if e := os.Getenv("TOTALSEG_HOME_DIR"); e != "" {
			return e
		}
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		return filepath.Join(home, ".totalsegmentator")
	}
	return h
}

// checkRecorded compares the hash recorded at download time with the one
// pinned, if any.
func checkRecorded(datasetDir string, pins ...string) error {
	b, err := os.ReadFile(filepath.Join(datasetDir, sourceFile))
	if err != nil {
		return nil // placed there by hand: nothing recorded
	}
	var s source
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("weights record %s: %w", sourceFile, err)
	}
	for _, p := range pins {
		if p != "" && !strings.EqualFold(p, s.SHA256) {
			return fmt.Errorf("cached weights in %s have SHA-256 %s, want %s; delete the folder to download again", datasetDir, s.SHA256, p)
		}
	}
	return nil
}

// download fetches the zip into a private temporary file in dir, checks
// its length and hash, unpacks it into a private folder and moves the
// dataset folder into place, so that an interrupted run leaves no partial
// model where ResolveWeights looks.
func download(ctx context.Context, task Task, dir string, opts WeightsOptions) error {
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = 4 << 30
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("weights dir: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return fmt.Errorf("weights dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, task.URL, nil)
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("download weights: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download weights: %s answered %s", task.URL, resp.Status)
	}
	if resp.ContentLength > limit {
		return fmt.Errorf("download weights: %d bytes exceeds the limit of %d", resp.ContentLength, limit)
	}
	zipPath := filepath.Join(tmp, "weights.zip")
	f, err := os.Create(zipPath)
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	h := sha256.New()
	pw := &progressWriter{total: resp.ContentLength, fn: opts.Progress}
	n, err := io.Copy(io.MultiWriter(f, h, pw), io.LimitReader(resp.Body, limit+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download weights: %w after %d bytes", err, n)
	}
	if n > limit {
		return fmt.Errorf("download weights: more than %d bytes", limit)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("download weights: truncated: %d of %d bytes", n, resp.ContentLength)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	want := opts.SHA256
	if want == "" {
		want = task.SHA256
	}
	if want != "" && !strings.EqualFold(sum, want) {
		return fmt.Errorf("download weights: SHA-256 %s, want %s", sum, want)
	}
	out := filepath.Join(tmp, "unpacked")
	if err := unzip(zipPath, out, task.Dataset, limit); err != nil {
		return fmt.Errorf("unpack weights: %w", err)
	}
	rec, _ := json.MarshalIndent(source{URL: task.URL, SHA256: sum, Time: time.Now().UTC()}, "", "  ")
	if err := os.WriteFile(filepath.Join(out, task.Dataset, sourceFile), rec, 0o644); err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	final := filepath.Join(dir, task.Dataset)
	if _, err := os.Stat(final); err == nil {
		// an incomplete folder placed by hand or by another process; keep it aside
		aside := final + ".old-" + randomSuffix()
		if err := os.Rename(final, aside); err != nil {
			return fmt.Errorf("weights: %w", err)
		}
	}
	if err := os.Rename(filepath.Join(out, task.Dataset), final); err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type progressWriter struct {
	done, total int64
	fn          func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.done += int64(len(b))
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
	return len(b), nil
}

// unzip extracts the regular files of the zip under root/ into dest,
// refusing names that leave dest, more than 10 000 entries, and more than
// limit bytes in all; a zip whose files lack the root/ folder is unpacked
// into dest/root.
func unzip(zipPath, dest, root string, limit int64) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	if len(zr.File) > 10000 {
		return fmt.Errorf("%d entries", len(zr.File))
	}
	wrap := true
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, root+"/") {
			wrap = false
		}
	}
	var total int64
	for _, f := range zr.File {
		name := f.Name
		if wrap {
			name = root + "/" + name
		}
		clean := path.Clean(name)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(clean, "\\") {
			return fmt.Errorf("entry %q leaves the folder", f.Name)
		}
		if !strings.HasPrefix(clean, root+"/") && clean != root {
			continue // not part of the model
		}
		target := filepath.Join(dest, filepath.FromSlash(clean))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if !f.Mode().IsRegular() {
			return fmt.Errorf("entry %q is not a regular file", f.Name)
		}
		total += int64(f.UncompressedSize64)
		if total > limit || f.UncompressedSize64 > uint64(limit) {
			return fmt.Errorf("unpacked size exceeds %d bytes", limit)
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := extract(f, target); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	return nil
}

// extract copies one entry; archive/zip checks its CRC-32 at the end, and
// the copy is bounded by the size the entry declares.
func extract(f *zip.File, target string) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, io.LimitReader(rc, int64(f.UncompressedSize64)+1))
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err == nil && uint64(n) != f.UncompressedSize64 {
		err = errors.New("size differs from the zip directory")
	}
	return err
}
