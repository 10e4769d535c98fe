import { describe, expect, it } from 'vitest'
import type { Job, JobInput } from '../api/types'
import { stageNote, stages } from './StageTimeline'

const T = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString()
const at = (s: number) => Date.parse(T(s))

function job(p: Partial<Job>): Job {
  return { id: 'j', status: 'created', createdAt: T(0), updatedAt: T(0), stages: { created: T(0) }, input: null, error: null, organs: [], artifacts: [], ...p }
}

describe('stages', () => {
  it('times each stage of a running job, the current one up to now', () => {
    const j = job({ status: 'segmenting', stages: { created: T(0), accepted: T(2), segmenting: T(5) } })
    expect(stages(j, at(65)).map((s) => [s.status, s.state, s.ms])).toEqual([
      ['created', 'done', 2000],
      ['accepted', 'done', 3000],
      ['segmenting', 'current', 60000],
      ['meshing', 'waiting', null],
      ['done', 'waiting', null],
    ])
  })

  it('marks where a failed job stopped', () => {
    const j = job({ status: 'failed', stages: { created: T(0), accepted: T(1), segmenting: T(3), failed: T(10) }, error: { stage: 'segmentation', code: 'gpu_oom', message: 'x' } })
    expect(stages(j, at(100)).map((s) => [s.status, s.state, s.ms])).toEqual([
      ['created', 'done', 1000],
      ['accepted', 'done', 2000],
      ['segmenting', 'failed', 7000],
      ['meshing', 'waiting', null],
      ['done', 'waiting', null],
    ])
  })

  it('marks the check as failed when ingest refuses the upload', () => {
    const j = job({ status: 'failed', stages: { created: T(0), failed: T(1) }, error: { stage: 'ingest', code: 'not_ct', message: 'x' } })
    expect(stages(j, at(5)).map((s) => [s.state, s.ms])).toEqual([
      ['done', 1000],
      ['failed', null],
      ['waiting', null],
      ['waiting', null],
      ['waiting', null],
    ])
  })

  it('falls back to the last step reached for an unknown stage', () => {
    const j = job({ status: 'failed', stages: { created: T(0), accepted: T(1), failed: T(3) }, error: { stage: 'status', code: 'timeout', message: 'x' } })
    expect(stages(j, at(5)).map((s) => s.state)).toEqual(['done', 'failed', 'waiting', 'waiting', 'waiting'])
  })

  const labelMap: JobInput = { format: 'nifti', file: 'seg.nii.gz', bytes: 1, dims: [1, 1, 1], spacingMm: [1, 1, 1], orientation: 'RAS', kind: 'labelmap', labels: 41 }

  it('shows segmentation as skipped for a label map, not as not reached', () => {
    const j = job({ status: 'done', input: labelMap, engine: 'none (label map uploaded)', stages: { created: T(0), accepted: T(1), meshing: T(2), done: T(5) } })
    const got = stages(j, at(100))
    expect(got.map((s) => [s.status, s.state, s.ms])).toEqual([
      ['created', 'done', 1000],
      ['accepted', 'done', 1000],
      ['segmenting', 'skipped', null],
      ['meshing', 'done', 3000],
      ['done', 'done', 0],
    ])
    expect(got[2].note).toBe('No segmentation: label map uploaded')
    expect(got.filter((s) => s.note)).toHaveLength(1)
  })

  it('skips segmentation for a label map still being meshed, and one that failed meshing', () => {
    const input = labelMap
    const running = job({ status: 'meshing', input, stages: { created: T(0), accepted: T(1), meshing: T(2) } })
    expect(stages(running, at(4)).map((s) => s.state)).toEqual(['done', 'done', 'skipped', 'current', 'waiting'])
    const failed = job({ status: 'failed', input, stages: { created: T(0), accepted: T(1), meshing: T(2), failed: T(3) }, error: { stage: 'mesher', code: 'mesh_failed', message: 'x' } })
    expect(stages(failed, at(4)).map((s) => s.state)).toEqual(['done', 'done', 'skipped', 'failed', 'waiting'])
  })

  it('does not skip segmentation for a CT', () => {
    const j = job({ status: 'accepted', input: { format: 'nifti', file: 'ct.nii.gz', bytes: 1, dims: [1, 1, 1], spacingMm: [1, 1, 1], orientation: 'RAS' }, stages: { created: T(0), accepted: T(1) } })
    expect(stages(j, at(2)).map((s) => s.state)).toEqual(['done', 'current', 'waiting', 'waiting', 'waiting'])
    expect(stages(j, at(2)).every((s) => s.note === undefined)).toBe(true)
  })

  it('finishes a done job', () => {
    const j = job({ status: 'done', stages: { created: T(0), accepted: T(1), segmenting: T(2), meshing: T(4), done: T(7) } })
    expect(stages(j, at(100)).map((s) => s.state)).toEqual(['done', 'done', 'done', 'done', 'done'])
    expect(stages(j, at(100))[3].ms).toBe(3000)
  })
})

describe('stageNote', () => {
  it.each([
    [{ status: 'segmenting', engine: 'sagemaker:iris-ts', stages: { segmenting: T(0) } }, 40, /Warming up the GPU/],
    [{ status: 'segmenting', engine: 'sagemaker:iris-ts', stages: { segmenting: T(0) } }, 10, null],
    [{ status: 'segmenting', engine: 'native', stages: { segmenting: T(0) } }, 40, null],
    [{ status: 'segmenting', engine: 'native', stages: { segmenting: T(0) } }, 120, /Still segmenting/],
    [{ status: 'accepted', stages: { accepted: T(0) } }, 1, /Queued for segmentation/],
    [{ status: 'accepted', input: { kind: 'labelmap' }, stages: { accepted: T(0) } }, 1, /Queued for meshing: the uploaded label map/],
    [{ status: 'done', stages: {} }, 1, null],
  ] as const)('%j at %i s', (p, s, want) => {
    const note = stageNote(job(p as Partial<Job>), at(s))
    if (want === null) expect(note).toBeNull()
    else expect(note).toMatch(want)
  })
})
