// How a job is named and how its failure is told: one plain sentence a
// person can act on, with the server's own message kept for a disclosure.

import type { Job, JobError, JobStatus } from '../api/types'

/** jobTitle names a job by the file sent (kept from the upload request), else its input, else its id. */
export function jobTitle(job: Job): string {
  return job.fileName || job.input?.file || `Job ${job.id.slice(-6)}`
}

// Codes of internal/pipeline/codes.go, in plain words.
const PLAIN: Record<string, string> = {
  empty: 'The file is empty.',
  too_large: 'The file is larger than this server accepts.',
  unknown_format: 'The file is neither a NIfTI volume nor a zip of DICOM files.',
  invalid_nifti: 'The file looks like NIfTI but cannot be read.',
  corrupt: 'The file is damaged and cannot be read.',
  not_ct: 'The file is neither a CT scan nor a label map.',
  no_dicom: 'The zip holds no DICOM images.',
  no_ct_series: 'The zip holds no CT series.',
  too_few_slices: 'The series has too few slices to make 3D models.',
  mixed_geometry: 'The slices in the zip do not belong to one series.',
  unsafe_zip: 'The zip was refused as unsafe.',
  unsupported_syntax: 'The DICOM images use a compression this server cannot read.',
  unsupported_image: 'The DICOM images are of a kind this server cannot read.',
  gantry_tilt: 'The scan was taken with a tilted gantry, which is not supported.',
  irregular_spacing: 'The slices are not evenly spaced.',
  duplicate_slices: 'The series holds the same slice more than once.',
  no_geometry: 'The images do not say where they lie in the body.',
  dispatch_failed: 'The organ finder could not be started.',
  segmentation_failed: 'Finding the organs failed.',
  invalid_label_map: 'The organ finder returned a result that cannot be used.',
  empty_segmentation: 'No organs were found in the scan.',
  mesh_failed: 'The 3D models could not be made.',
  gpu_oom: 'The scan is too large for the GPU.',
  timeout: 'The job took too long and was stopped.',
}

const BY_STAGE: Record<string, string> = {
  upload: 'The file could not be read as a CT scan.',
  ingest: 'The file could not be read as a CT scan.',
  dispatch: 'The organ finder could not be started.',
  segmentation: 'Finding the organs failed.',
  mesher: 'The 3D models could not be made.',
}

/** plainError is one sentence on what went wrong, without the server's jargon. */
export function plainError(e: JobError): string {
  return PLAIN[e.code] ?? BY_STAGE[e.stage] ?? 'The job failed.'
}

/** advice says what to do about a failure, beyond saying what it was. */
export function advice(e: JobError): string {
  if (e.code === 'gpu_oom') return 'Crop the scan to the region you need, or resample it to thicker slices, and try again.'
  if (e.code === 'too_large') return 'Crop or resample the scan, or compress it as .nii.gz, and try again.'
  // A label map is recognised by its content, so a file refused as not CT is not one either.
  if (e.code === 'not_ct')
    return 'Try another file: the CT scan itself (NIfTI, or a .zip of its DICOM series), or a NIfTI label map with one whole number per structure, as TotalSegmentator, 3D Slicer or nnU-Net write them. An MR image is not accepted. The details say what was found.'
  switch (e.stage) {
    case 'upload':
    case 'ingest':
      return 'Try another file: a NIfTI CT volume (.nii or .nii.gz), a .zip of one DICOM CT series, or a NIfTI label map. The details say exactly what was wrong.'
    case 'dispatch':
    case 'segmentation':
      return 'This is usually temporary: upload the scan again in a few minutes. If it fails again, the scan may be one the segmenter cannot read.'
    case 'mesher':
      return 'The organs were found but the models could not be made. Upload the scan again; if it fails again, report the job id from the details.'
    default:
      return e.code === 'timeout' ? 'Upload the scan again; a smaller scan goes faster.' : 'Upload the scan again; if it fails again, report the job id from the details.'
  }
}

const STATUS_WORD: Record<JobStatus, string> = {
  created: 'Uploading',
  accepted: 'Checking',
  segmenting: 'Finding organs',
  meshing: 'Making models',
  done: 'Done',
  failed: 'Failed',
}

/** pageTitle is the browser tab's title for a job: its status first, so a background tab shows progress. */
export function pageTitle(job: Job): string {
  return `${STATUS_WORD[job.status] ?? job.status} · ${jobTitle(job)} — IRIS Oculus`
}
