package events

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
)

// Print exports: a new mesh run of a finished job's label map with the
// user's settings, into a result set of its own under
// results/{job}/exports/{export}/, so nothing of the job's first set (or
// of an earlier export) changes under someone who downloaded it. The API
// writes the request there and sends an ExportRequest to the mesh queue;
// the mesher writes the set, the print pack and, last, ExportDoneFile, or
// ExportErrorFile when it cannot.
const (
	ExportRequestFile = "request.json"
	ExportDoneFile    = "export.json"
	ExportErrorFile   = "error.json"
	// KindExport marks an ExportRequest among the mesh queue's messages.
	KindExport = "export"
)

// Bounds of ExportSettings.
const (
	MaxExportTriangles = 5_000_000
	MinExportTriangles = 1000
	MaxExportLabels    = 1000
	MaxPieceMl         = 10_000
)

var exportIDRe = regexp.MustCompile(`^[0-9a-v]{26}$`)

// ValidExportID reports whether id has the shape of an export id (the
// API's ids: 26 characters of base32hex).
func ValidExportID(id string) bool { return exportIDRe.MatchString(id) }

// ExportsPrefix holds a job's exports.
func ExportsPrefix(job string) string { return ResultsPrefix(job) + "exports/" }

// ExportPrefix holds one export's set.
func ExportPrefix(job, export string) string { return ExportsPrefix(job) + export + "/" }

// ExportSettings are a print export's settings.
type ExportSettings struct {
	// Smooth is the smoothing strength 0..1 (mesh.Options.Smooth).
	Smooth float64 `json:"smooth"`
	// MaxTriangles is the triangle budget of the whole set; 0 means each
	// organ keeps a tenth of its triangles.
	MaxTriangles int `json:"maxTriangles"`
	// MinPieceMl drops each organ's pieces under this volume; 0: none.
	MinPieceMl float64 `json:"minPieceMl"`
	// LargestPieceOnly keeps only each organ's largest piece.
	LargestPieceOnly bool `json:"largestPieceOnly"`
	// Labels are the organs chosen (label values); empty means all.
	Labels []uint16 `json:"labels"`
}

// Check names the first setting out of bounds.
func (s ExportSettings) Check() error {
	switch {
	case math.IsNaN(s.Smooth) || s.Smooth < 0 || s.Smooth > 1:
		return fmt.Errorf("smooth must be between 0 and 1")
	case s.MaxTriangles != 0 && (s.MaxTriangles < MinExportTriangles || s.MaxTriangles > MaxExportTriangles):
		return fmt.Errorf("maxTriangles must be 0 (a tenth of each organ's) or between %d and %d", MinExportTriangles, MaxExportTriangles)
	case math.IsNaN(s.MinPieceMl) || s.MinPieceMl < 0 || s.MinPieceMl > MaxPieceMl:
		return fmt.Errorf("minPieceMl must be between 0 and %d", MaxPieceMl)
	case len(s.Labels) > MaxExportLabels:
		return fmt.Errorf("at most %d labels may be chosen", MaxExportLabels)
	}
	for _, l := range s.Labels {
		if l == 0 {
			return fmt.Errorf("label 0 is the background, not an organ")
		}
	}
	return nil
}

// ExportRequest is the mesh queue's message asking for a print export.
type ExportRequest struct {
	Kind     string         `json:"kind"` // KindExport
	JobID    string         `json:"jobId"`
	ExportID string         `json:"exportId"`
	Settings ExportSettings `json:"settings"`
}

// DecodeExportRequest reads an ExportRequest from a queue message. ok is
// false for a message of another kind (an S3 event); err reports an
// export request that cannot be used.
func DecodeExportRequest(body []byte) (req ExportRequest, ok bool, err error) {
	var probe struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(body, &probe) != nil || probe.Kind != KindExport {
		return req, false, nil
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return req, true, fmt.Errorf("decode export request: %w", err)
	}
	if !ValidJobID(req.JobID) || !ValidExportID(req.ExportID) {
		return req, true, fmt.Errorf("export request: invalid job %q or export %q", req.JobID, req.ExportID)
	}
	if err := req.Settings.Check(); err != nil {
		return req, true, fmt.Errorf("export request: %w", err)
	}
	return req, true, nil
}

// ExportRecord is request.json: what was asked, and when.
type ExportRecord struct {
	ID        string         `json:"id"`
	CreatedAt string         `json:"createdAt"` // RFC 3339
	Settings  ExportSettings `json:"settings"`
}

// ExportDone is export.json, written last: the export's files (relative
// to its folder) and its print pack's entries.
type ExportDone struct {
	Files     []string          `json:"files"`
	PrintPack string            `json:"printPack"`
	Organs    []ExportOrgan     `json:"organs"`
	Pieces    map[string][2]int `json:"pieces,omitempty"` // label → kept, before
}

// ExportOrgan is one STL of a print pack.
type ExportOrgan struct {
	Label       uint16 `json:"label"`
	Name        string `json:"name"`
	DisplayName string `json:"displayName"`
	File        string `json:"file"` // in the zip
	Triangles   int    `json:"triangles"`
	Watertight  bool   `json:"watertight"`
}

// ExportError is error.json.
type ExportError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
