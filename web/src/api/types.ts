// The JSON of the IRIS HTTP API (internal/api) and of the model set's
// manifest (internal/export/manifest.go). Field names are the contract.

export type JobStatus = 'created' | 'accepted' | 'segmenting' | 'meshing' | 'done' | 'failed'

/** The pipeline's statuses in order, without failed. */
export const STATUS_ORDER: readonly JobStatus[] = ['created', 'accepted', 'segmenting', 'meshing', 'done']

export function isTerminal(s: JobStatus): boolean {
  return s === 'done' || s === 'failed'
}

export interface JobInput {
  format: string // "nifti" or "dicom"
  file: string
  bytes: number
  dims: [number, number, number]
  spacingMm: [number, number, number]
  orientation: string
  series?: string
  kind?: 'labelmap' // the upload was a label map: meshed as it is, no segmentation
  labels?: number // how many labels the uploaded label map holds
}

export interface JobError {
  stage: string
  code: string
  message: string
}

export interface JobOrgan {
  label: number
  name: string
  displayName?: string
  system?: string
  color?: string
  voxelCount: number
  volumeMl: number
  meshVolumeMl: number
  surfaceAreaCm2: number
  triangles: number
  touchesBorder: boolean
}

export interface Artifact {
  name: string // e.g. "scene.glb", "stl/liver.stl"
  url: string
  bytes: number
  expiresAt: string
}

export interface Job {
  id: string
  status: JobStatus
  /** The uploaded file's name as the server stored it (kept from the upload request). */
  fileName?: string
  createdAt: string
  updatedAt: string
  stages: Partial<Record<JobStatus, string>>
  input: JobInput | null
  engine?: string
  error: JobError | null
  organs: JobOrgan[]
  artifacts: Artifact[]
  /** A finished job's stage times, GPU seconds and estimated cost. */
  usage?: JobUsage
}

export interface JobUsage {
  stageSeconds: Partial<Record<JobStatus, number>>
  totalSeconds: number
  gpuSeconds: number
  lambdaGbSeconds: number
  cost: JobCost
}

export interface JobCost {
  gpu: number
  lambda: number
  requests: number
  total: number
  currency: string
  instanceType?: string
  pricesReadOn?: string
}

export interface Upload {
  method: 'PUT' | 'POST'
  url: string
  headers?: Record<string, string>
  fields?: Record<string, string>
  expiresAt: string
}

export interface CreateJobResponse {
  job: Job
  upload: Upload
}

export interface JobPage {
  jobs: Job[]
  next: string
}

export interface ManifestOrgan {
  label: number
  name: string
  displayName: string
  system: string
  color: string // "#rrggbb", sRGB
  snomed?: string
  voxelCount: number
  voxelVolumeMl: number
  meshVolumeMl: number
  surfaceAreaCm2: number
  triangles: number
  bboxMm: { min: [number, number, number]; max: [number, number, number] }
  touchesBorder: boolean
  partial: boolean
  note?: string
  files: { stl?: string }
}

export interface Manifest {
  schema: string
  generator: string
  created: string
  source: {
    file: string
    dims: [number, number, number]
    spacing: [number, number, number]
    orientation: string
    affine: number[][]
  }
  units: { length: string; volume: string; area: string }
  organs: ManifestOrgan[]
  files: { name: string; bytes: number; sha256: string }[]
}

/** The body of every API error response (internal/api). */
export interface ApiErrorBody {
  error: { code: string; message: string }
}
