// Package ingest is the pipeline's ingest stage: it turns an upload (a
// NIfTI file, a zip of a DICOM series, a dropped folder of slices, or a
// label map) into the job's de-identified volume and input facts, emits
// "Job Accepted" or "Job Rejected" with a code a person can act on, and
// sends the dispatch request. It is a package of its own, over ports, the
// scan readers and the leaf package stage, so that the ingest Lambda links
// none of the meshing code; internal/pipeline re-exports it. It does not
// segment or mesh, and writes no job record.
package ingest
