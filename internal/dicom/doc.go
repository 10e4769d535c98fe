// Package dicom converts a DICOM CT series — a folder, or a zip archive on
// disk or in memory — into a *volume.CT in Hounsfield units whose voxels
// and affine equal those of dcm2niix's NIfTI for the same series.
//
// What it does:
//   - finds DICOM files by content (the DICM magic, or a plausible first
//     element when the preamble is missing), ignoring DICOMDIR, macOS
//     metadata and anything else;
//   - groups them by SeriesInstanceUID, or, when anonymisation emptied it,
//     by frame of reference, series number, kernel, orientation, matrix and
//     pixel spacing; drops localizers (ImageType LOCALIZER, or up to three
//     images whose orientation disagrees with the rest); picks the CT
//     series with the most slices and reports every series and why it was
//     or was not chosen;
//   - sorts slices by ImagePositionPatient along the normal row×column (not
//     by InstanceNumber), takes the slice step from positions (not
//     SliceThickness), and builds the affine as dcm2niix does: LPS→RAS, rows
//     flipped (j = rows−1−row), k ascending along the normal;
//   - decodes implicit/explicit little endian, explicit big endian,
//     deflated, RLE lossless, JPEG lossless process 14 (any predictor,
//     .4.57 and .4.70), JPEG-LS (.4.80/.4.81) and JPEG 2000 (.4.90/.4.91),
//     and applies RescaleSlope/Intercept per slice (after sign extension from
//     BitsStored when PixelRepresentation is 1, and after reinterpreting
//     unsigned JPEG 2000 codestreams of signed images as pydicom does);
//   - decodes slices in parallel, holding one int16 volume plus one frame per
//     worker.
//
// What it does not do: it refuses, with an error naming what it measured,
// gantry-tilted stacks (ErrGantryTilt: no resampling), uneven spacing or
// missing slices (ErrIrregularSpacing), several images at one position
// (ErrDuplicateSlices; repeated copies of one SOP instance are dropped),
// mixed matrix, spacing or orientation (ErrMixedGeometry), lossy JPEG
// baseline/extended, JPEG 2000 part 2, HTJ2K, MPEG and other syntaxes
// (ErrUnsupportedSyntax), and multi-frame or enhanced CT and colour images
// (a series that is rejected, hence ErrNoCTSeries if nothing else is left).
// JPEG lossless restart intervals that split a line are refused, as IJG
// (dcmtk) refuses them. HU are rounded half to even to int16; values
// outside its range are clamped and counted in the warnings. Files without
// a meta header are read as the parser infers them, but their pixels as
// little endian. A damaged file of the chosen series is an error; damaged
// files of other series are warnings.
//
// Privacy: only the attributes listed in Info (and the geometry and pixel
// attributes needed to build the grid) are kept from the headers; nothing that identifies the patient survives into the Result or
// the volume, and the NIfTI volume.WriteCT writes has an empty descrip.
// Warnings and errors may name input files by their path in the input.
//
// Zip archives are checked before and while reading: absolute or ".."
// entry names, encrypted entries, more than 100 000 entries, an entry
// inflating more than 100:1 (beyond its first MiB), or a total beyond
// Options.MaxBytes give ErrUnsafeZip. Sizes recorded in the archive are
// never trusted: every entry is read through a counting limit.
//
// Written by hand, and why: github.com/suyashkumar/dicom parses headers but
// decodes no compressed pixels, so RLE (≈80 lines) and JPEG lossless
// (T.81 Annex H; no Go library decodes its 16-bit form) are here. JPEG 2000
// and JPEG-LS use github.com/cocosip/go-dicom-codec v0.5.0 behind the
// frameDecoder interface, pinned by golden tests; their dimensions are
// checked against the DICOM header before the codec allocates anything,
// and their panics become ErrCorrupt. The JPEG-LS packages pull in
// cocosip/go-dicom (MS-PL).
//
// Which build decodes JPEG 2000 with what (JPEG2000Decoder says, and so
// does Result.Summary):
//   - with -tags openjpeg and cgo: OpenJPEG, the system's libopenjp2
//     (Debian libopenjp2-7-dev to build, libopenjp2-7 to run; found with
//     pkg-config), the decoder dcm2niix, GDCM and pydicom use. Each call
//     decodes one frame on one thread, in strict mode (a truncated
//     codestream is an error), from memory, after the same checks as the
//     pure-Go decoder; the C glue checks the parsed header against the
//     DICOM frame again and writes only that frame's samples. About twice
//     as fast per core as the pure-Go decoder. bench/dicom/run.sh builds
//     this way when libopenjp2 is there.
//   - every other build, CGO_ENABLED=0 included (`make iris`, `make
//     release`, the Lambda zips, `go build ./...`): the pure-Go decoder.
//
// Both give the same samples (TestJ2KDecodersAgree), both equal dcm2niix's
// conversion voxel for voxel, and both refuse the same hostile codestreams
// (TestJ2KHostile, FuzzJ2K): before either decodes, checkJ2K walks the
// codestream's marker segments and tile-parts, so that a codestream cut
// short, a tile-part running past the end, or coding parameters outside
// the standard's bounds are ErrCorrupt rather than a partly zero image.
package dicom
