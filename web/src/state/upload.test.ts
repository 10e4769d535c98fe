import { describe, expect, it } from 'vitest'
import { ApiError, type UploadOptions } from '../api/client'
import type { CreateJobResponse, Upload } from '../api/types'
import { readData } from '../testing/data'
import { createUploadStore } from './upload'

const ctGz = readData('totalsegmentator-example', 'ct_3mm.nii.gz')

function fakeClient(result: CreateJobResponse | ApiError) {
  const calls: [string, number][] = []
  const deleted: string[] = []
  return {
    calls,
    deleted,
    client: {
      createJob: async (filename: string, bytes: number) => {
        calls.push([filename, bytes])
        if (result instanceof ApiError) throw result
        return result
      },
      deleteJob: async (id: string) => {
        deleted.push(id)
      },
    },
  }
}

const created: CreateJobResponse = {
  job: { id: 'job1', status: 'created', createdAt: '', updatedAt: '', stages: {}, input: null, error: null, organs: [], artifacts: [] },
  upload: { method: 'PUT', url: '/blobs/uploads/job1/ct.nii.gz', expiresAt: '' },
}

describe('upload store', () => {
  it('checks, creates the job and uploads with progress', async () => {
    const { client, calls } = fakeClient(created)
    const sent: [Upload, number, string][] = []
    const s = createUploadStore({
      client,
      upload: async (up, file, name, opts: UploadOptions) => {
        sent.push([up, file.size, name])
        opts.onProgress?.({ loaded: 100, total: file.size })
        expect(s.getState()).toMatchObject({ phase: 'uploading', loaded: 100, jobId: 'job1' })
      },
    })
    const file = new File([ctGz as BlobPart], 'ct_3mm.nii.gz')
    const id = await s.getState().startFile(file)
    expect(id).toBe('job1')
    expect(calls).toEqual([['ct_3mm.nii.gz', ctGz.length]])
    expect(sent).toEqual([[created.upload, ctGz.length, 'ct_3mm.nii.gz']])
    expect(s.getState()).toMatchObject({ phase: 'done', loaded: ctGz.length, total: ctGz.length, error: null })
  })

  it('refuses a wrong file before asking the server', async () => {
    const { client, calls } = fakeClient(created)
    const s = createUploadStore({ client, upload: async () => {} })
    const id = await s.getState().startFile(new File(['not a scan at all'], 'notes.nii.gz'))
    expect(id).toBeNull()
    expect(calls).toEqual([])
    expect(s.getState().phase).toBe('error')
    expect(s.getState().error).toMatch(/not a gzip file/)
  })

  it('shows the server refusal', async () => {
    const { client } = fakeClient(new ApiError(413, 'too_large', 'the file is 3.0 GB; the limit is 2.0 GB'))
    const s = createUploadStore({ client, upload: async () => {} })
    await s.getState().startFile(new File([ctGz as BlobPart], 'ct.nii.gz'))
    expect(s.getState()).toMatchObject({ phase: 'error', error: 'the file is 3.0 GB; the limit is 2.0 GB', jobId: null })
  })

  it('keeps the job id when the upload itself fails', async () => {
    const { client, deleted } = fakeClient(created)
    const s = createUploadStore({
      client,
      upload: async () => {
        throw new ApiError(0, 'network', 'the connection dropped')
      },
    })
    await s.getState().startFile(new File([ctGz as BlobPart], 'ct.nii.gz'))
    expect(s.getState()).toMatchObject({ phase: 'error', jobId: 'job1' })
    expect(deleted).toEqual([])
  })

  it('deletes the created job when the upload is cancelled', async () => {
    const { client, deleted } = fakeClient(created)
    const s = createUploadStore({
      client,
      upload: (_up, _f, _n, opts) =>
        new Promise((_, reject) => opts.signal?.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'x')))),
    })
    const p = s.getState().startFile(new File([ctGz as BlobPart], 'ct.nii.gz'))
    await new Promise((r) => setTimeout(r, 10))
    expect(s.getState().phase).toBe('uploading')
    // a second start while busy is ignored
    expect(await s.getState().startFile(new File([ctGz as BlobPart], 'other.nii.gz'))).toBeNull()
    s.getState().cancel()
    expect(await p).toBeNull()
    expect(s.getState()).toMatchObject({ phase: 'error', error: 'The upload was cancelled.', jobId: null })
    expect(deleted).toEqual(['job1'])
    s.getState().reset()
    expect(s.getState()).toMatchObject({ phase: 'idle', jobId: null, error: null })
  })

  it('refuses a folder without DICOM files', async () => {
    const { client, calls } = fakeClient(created)
    const s = createUploadStore({ client, upload: async () => {} })
    await s.getState().startFolder('docs', [{ path: 'a.txt', file: new Blob(['hello']) }])
    expect(calls).toEqual([])
    expect(s.getState().error).toMatch(/holds no DICOM files/)
  })
})
