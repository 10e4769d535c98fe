package ingest

import (
	"errors"
	"io"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"

	"github.com/iris-oculus/iris/internal/dicom"
	"github.com/iris-oculus/iris/internal/limits"
	"github.com/iris-oculus/iris/internal/pipeline/stage"
	"github.com/iris-oculus/iris/internal/scan"
	"github.com/iris-oculus/iris/internal/segment"
	"github.com/iris-oculus/iris/internal/volume"
)

// Failure codes. They are stable: programs (the web app, alarms) key on
// them; the messages that come with them are for people.
const (
	CodeEmpty             = "empty"
	CodeTooLarge          = stage.CodeTooLarge
	CodeUnknownFormat     = "unknown_format"
	CodeInvalidNIfTI      = "invalid_nifti"
	CodeCorrupt           = "corrupt"
	CodeNotCT             = "not_ct"
	CodeNoDICOM           = "no_dicom"
	CodeNoCTSeries        = "no_ct_series"
	CodeTooFewSlices      = "too_few_slices"
	CodeMixedGeometry     = "mixed_geometry"
	CodeUnsafeZip         = "unsafe_zip"
	CodeUnsupportedSyntax = "unsupported_syntax"
	CodeUnsupportedImage  = "unsupported_image"
	CodeGantryTilt        = "gantry_tilt"
	CodeIrregularSpacing  = "irregular_spacing"
	CodeDuplicateSlices   = "duplicate_slices"
	CodeNoGeometry        = "no_geometry"
)

// rejection maps a sentinel error to a code and what the person should do.
type rejection struct {
	err    error
	code   string
	advice string
}

// rejections is checked in order; the first match wins. dicom's sentinels
// come before the generic ones, since a DICOM error may also wrap an EOF.
var rejections = []rejection{
	{dicom.ErrTooLarge, CodeTooLarge, tooLargeAdvice},
	{dicom.ErrUnsafeZip, CodeUnsafeZip, "The zip archive was refused as unsafe (paths leaving the archive, encryption, or far more data than its size suggests). Make a plain zip of the series folder and upload that."},
	{dicom.ErrNotDICOM, CodeNoDICOM, "The zip holds no DICOM images. Zip the folder that holds the CT series' image files and upload it."},
	{dicom.ErrNoCTSeries, CodeNoCTSeries, "None of the DICOM series in the upload is a usable CT series. Include the CT images themselves, not only localizers, reports or screenshots."},
	{dicom.ErrTooFewSlices, CodeTooFewSlices, "The upload holds a single image, not a series. Zip the whole folder of the CT series and upload the zip."},
	{dicom.ErrMixedGeometry, CodeMixedGeometry, "The images of the series differ in size or pixel spacing, so they do not make one volume. Export the series again without mixing series, and upload it."},
	{dicom.ErrUnsupportedSyntax, CodeUnsupportedSyntax, "The DICOM images use a compression this service cannot decode. Export the series uncompressed (Explicit VR Little Endian) and upload it again."},
	{dicom.ErrUnsupportedImage, CodeUnsupportedImage, "The DICOM images are of a kind this service cannot read as CT (such as colour or multi-frame images). Upload the original grey-scale CT series."},
	{dicom.ErrGantryTilt, CodeGantryTilt, "The series was acquired with a tilted gantry, which this service does not correct. Upload an axial reconstruction without tilt, or convert the series with dcm2niix (which corrects tilt) and upload the NIfTI file."},
	{dicom.ErrIrregularSpacing, CodeIrregularSpacing, "The slices are not evenly spaced; some may be missing. Upload the complete series."},
	{dicom.ErrDuplicateSlices, CodeDuplicateSlices, "Several images share one slice position, as happens when two series are mixed. Upload one series only."},
	{dicom.ErrCorrupt, CodeCorrupt, "The image data is damaged. Export the series again and upload it."},
	{volume.ErrNoGeometry, CodeNoGeometry, "The NIfTI file does not state its voxel size (pixdim is 0 and there is no sform), so the organs' sizes cannot be known. Convert the scan again with a tool that writes its geometry (dcm2niix, or nibabel with the affine set), or upload the DICOM series."},
	{segment.ErrNotCT, CodeNotCT, "The volume is neither a CT scan of a body in Hounsfield units nor a label map (it may be an MR image, or a map of measured values rather than labels). Upload the CT scan itself, or a NIfTI label map that holds one whole number per structure."},
	{scan.ErrUnknownFormat, CodeUnknownFormat, "The file is neither a NIfTI volume nor a zip of a DICOM series. Upload a .nii or .nii.gz file, or zip the folder of the CT series and upload the zip."},
}

const (
	tooLargeAdvice = "The scan is larger than this service accepts. Upload a single series, or one with thicker slices."
	corruptAdvice  = "The file is damaged (truncated or altered in transfer). Upload it again."
	niftiAdvice    = "The file is a NIfTI file that cannot be read as one 3D CT volume. Check that it opens as a single 3D volume in a viewer, then upload it again."
	emptyAdvice    = "The uploaded file is empty. Upload the scan again."
)

// Classify turns a content error of the ingest into a failure code and a
// message a person can act on: what to do, then the reader's own words.
// looksNIfTI says whether the upload began like a NIfTI file, for errors
// that carry no sentinel.
func Classify(err error, looksNIfTI bool) (code, message string) {
	var big *stage.TooBig
	if errors.As(err, &big) {
		err = &limits.TooLarge{What: "the upload", Need: big.Size, Limit: big.Max}
	}
	var over *limits.TooLarge
	if errors.As(err, &over) {
		return CodeTooLarge, tooLargeAdvice + " (" + over.Error() + ")"
	}
	for _, r := range rejections {
		if errors.Is(err, r.err) {
			return r.code, r.advice + " (" + err.Error() + ")"
		}
	}
	if isCorrupt(err) {
		return CodeCorrupt, corruptAdvice + " (" + err.Error() + ")"
	}
	if looksNIfTI {
		return CodeInvalidNIfTI, niftiAdvice + " (" + err.Error() + ")"
	}
	return CodeUnknownFormat, rejections[len(rejections)-1].advice + " (" + err.Error() + ")"
}

// isCorrupt reports a truncated or damaged compressed stream.
func isCorrupt(err error) bool {
	var flateErr flate.CorruptInputError
	return errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) ||
		errors.Is(err, pgzip.ErrChecksum) || errors.Is(err, pgzip.ErrHeader) ||
		errors.As(err, &flateErr)
}
