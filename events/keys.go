package events

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Key prefixes of the one bucket. The job id is always the second path
// segment, so every stage recovers it from a key alone.
const (
	PrefixUploads              = "uploads/"
	PrefixVolumes              = "volumes/"
	PrefixSegmentations        = "segmentations/"
	PrefixSegmentationFailures = "segmentation-failures/"
	PrefixResults              = "results/"
)

// JobPrefixes are the prefixes under which a job has objects, each as
// prefix + job id + "/": deleting a job clears all of them.
func JobPrefixes() []string {
	return []string{PrefixUploads, PrefixVolumes, PrefixSegmentations, PrefixSegmentationFailures, PrefixResults}
}

// JobFolders are job's folders under every one of JobPrefixes.
func JobFolders(job string) []string {
	out := JobPrefixes()
	for i, p := range out {
		out[i] = p + job + "/"
	}
	return out
}

// Fixed file names under a job's folders.
const (
	VolumeFile       = "ct.nii.gz"
	SegmentationFile = "labels.nii.gz"
	ManifestFile     = "manifest.json"
)

// ErrBadKey reports a key outside the layout.
var ErrBadKey = errors.New("key outside the bucket layout")

var (
	jobIDRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{6,64}$`)
	keyCharRe = regexp.MustCompile(`^[A-Za-z0-9/_.-]+$`)
)

// ValidJobID reports whether id can be a path segment of every prefix.
func ValidJobID(id string) bool { return jobIDRe.MatchString(id) }

// UploadKey is where a user's original file goes; file is sanitised.
func UploadKey(job, file string) string { return PrefixUploads + job + "/" + SafeName(file) }

// VolumeKey is the normalised, de-identified input volume.
func VolumeKey(job string) string { return PrefixVolumes + job + "/" + VolumeFile }

// SegmentationKey is the label map the segmenter writes.
func SegmentationKey(job string) string { return PrefixSegmentations + job + "/" + SegmentationFile }

// SegmentationFailurePrefix holds the segmenter's error output.
func SegmentationFailurePrefix(job string) string { return PrefixSegmentationFailures + job + "/" }

// ResultsPrefix holds the model set.
func ResultsPrefix(job string) string { return PrefixResults + job + "/" }

// ManifestKey is the model set's manifest, written last.
func ManifestKey(job string) string { return ResultsPrefix(job) + ManifestFile }

// Key is a parsed object key.
type Key struct {
	Prefix string // one of the Prefix constants
	JobID  string // "" for a file dropped straight into uploads/
	Rest   string // the path after the job id (or after uploads/ for a bare drop)
}

// ParseKey splits a key into prefix, job id and the rest, refusing keys
// outside the layout.
func ParseKey(key string) (Key, error) {
	if !keyCharRe.MatchString(key) || strings.Contains(key, "..") || strings.Contains(key, "//") {
		return Key{}, fmt.Errorf("%w: %q has characters outside [A-Za-z0-9/_.-]", ErrBadKey, key)
	}
	for _, p := range []string{PrefixUploads, PrefixVolumes, PrefixSegmentations, PrefixSegmentationFailures, PrefixResults} {
		rest, ok := strings.CutPrefix(key, p)
		if !ok {
			continue
		}
		job, tail, nested := strings.Cut(rest, "/")
		if !nested {
			if p == PrefixUploads && rest != "" {
				return Key{Prefix: p, Rest: rest}, nil // a bare drop
			}
			return Key{}, fmt.Errorf("%w: %q has no job folder", ErrBadKey, key)
		}
		if !ValidJobID(job) || tail == "" {
			return Key{}, fmt.Errorf("%w: %q has no valid job id", ErrBadKey, key)
		}
		return Key{Prefix: p, JobID: job, Rest: tail}, nil
	}
	return Key{}, fmt.Errorf("%w: %q has an unknown prefix", ErrBadKey, key)
}

// DropJobID derives the job id of a file dropped into uploads/ without a
// job folder from its key and ETag, so a redelivered event maps to the same
// job and a new file under the same name to a new one.
func DropJobID(key, etag string) string {
	sum := sha256.Sum256([]byte(key + "\x00" + strings.Trim(etag, `"`)))
	return "d" + hex.EncodeToString(sum[:12])
}

// SafeName reduces a user's file name to the key alphabet, keeping its
// extension readable ("My Scan (1).nii.gz" → "My_Scan_1_.nii.gz").
func SafeName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), ".")
	for strings.Contains(s, "..") {
		s = strings.ReplaceAll(s, "..", ".")
	}
	if s == "" {
		s = "upload"
	}
	if len(s) > 128 {
		s = s[len(s)-128:]
	}
	return s
}
