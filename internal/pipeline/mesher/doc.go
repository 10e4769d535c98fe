// Package mesher is the pipeline's mesher stage: it turns a job's label
// map into its model set (GLB, OBJ, STL, manifest) under results/, and
// makes print exports of a finished job. It is a package of its own, over
// ports, the NIfTI reader, the mesher and the export writers, so that the
// mesher Lambda links none of the DICOM codecs and none of the
// segmentation code; internal/pipeline re-exports it. It does not read
// uploads or start segmentations.
package mesher
