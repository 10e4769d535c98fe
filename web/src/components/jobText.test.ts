import { describe, expect, it } from 'vitest'
import type { Job } from '../api/types'
import { advice, jobTitle, pageTitle, plainError } from './jobText'

const job = (p: Partial<Job>): Job => ({
  id: '20261205-abcdef',
  status: 'created',
  createdAt: '',
  updatedAt: '',
  stages: {},
  input: null,
  error: null,
  organs: [],
  artifacts: [],
  ...p,
})

describe('jobTitle', () => {
  it('keeps the uploaded file name even when the input was never read', () => {
    expect(jobTitle(job({ fileName: 'My_scan.nii.gz', status: 'failed' }))).toBe('My_scan.nii.gz')
    expect(jobTitle(job({}))).toBe('Job abcdef')
  })
})

describe('plainError', () => {
  it.each([
    [{ stage: 'ingest', code: 'not_ct', message: 'values span 0..117; sizeof_hdr 348' }, 'The file is neither a CT scan nor a label map.'],
    [{ stage: 'ingest', code: 'something_new', message: 'x' }, 'The file could not be read as a CT scan.'],
    [{ stage: 'segmentation', code: 'gpu_oom', message: 'CUDA out of memory' }, 'The scan is too large for the GPU.'],
    [{ stage: 'status', code: 'weird', message: 'x' }, 'The job failed.'],
  ])('%j', (e, want) => {
    const s = plainError(e)
    expect(s).toBe(want)
    expect(s).not.toContain(e.message) // the jargon stays in the details
  })
})

describe('advice', () => {
  it.each([
    [{ stage: 'ingest', code: 'not_ct', message: '' }, /^Try another file: the CT scan itself .* or a NIfTI label map with one whole number per structure/],
    [{ stage: 'ingest', code: 'corrupt', message: '' }, /^Try another file: .* or a NIfTI label map\./],
    [{ stage: 'segmentation', code: 'gpu_oom', message: '' }, /Crop the scan/],
    [{ stage: 'segmentation', code: 'segmentation_failed', message: '' }, /usually temporary/],
    [{ stage: 'mesher', code: 'mesh_failed', message: '' }, /models could not be made/],
    [{ stage: 'status', code: 'timeout', message: '' }, /smaller scan goes faster/],
  ])('%j', (e, want) => expect(advice(e)).toMatch(want))
  it('never calls a refused file a possible segmentation: label maps are accepted', () => {
    const e = { stage: 'ingest', code: 'not_ct', message: '' }
    expect(`${plainError(e)} ${advice(e)}`).not.toMatch(/segmentation/i)
  })
  it('never repeats the plain sentence', () => {
    for (const e of [{ stage: 'ingest', code: 'not_ct', message: '' }, { stage: 'mesher', code: 'mesh_failed', message: '' }]) {
      expect(advice(e)).not.toContain(plainError(e))
    }
  })
})

describe('pageTitle', () => {
  it('puts the status first', () => {
    expect(pageTitle(job({ status: 'segmenting', fileName: 'ct.nii.gz' }))).toBe('Finding organs · ct.nii.gz — IRIS Oculus')
    expect(pageTitle(job({ status: 'failed', fileName: 'x.zip' }))).toMatch(/^Failed · x\.zip/)
  })
})
