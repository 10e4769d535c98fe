// The upload flow: check the file, zip a folder, create the job, send the
// bytes straight to storage with progress. Each step can fail with a reason
// the person can act on; nothing is sent until the checks pass.

import { createStore, type StoreApi } from 'zustand/vanilla'
import { ApiError, type ApiClient, type UploadOptions, uploadFile } from '../api/client'
import type { Upload } from '../api/types'
import { sniffFile } from '../upload/sniff'
import { zipDicomFolder, type FolderFile } from '../upload/dicomzip'

export type UploadPhase = 'idle' | 'checking' | 'zipping' | 'creating' | 'uploading' | 'done' | 'error'

export interface UploadState {
  phase: UploadPhase
  fileName: string
  loaded: number
  total: number
  /** Set once the job exists, so a failed upload can still be found. */
  jobId: string | null
  error: string | null
  startFile(file: File): Promise<string | null>
  startFolder(folder: string, files: FolderFile[]): Promise<string | null>
  cancel(): void
  reset(): void
}

export interface UploadDeps {
  client: Pick<ApiClient, 'createJob' | 'deleteJob'>
  upload?: (up: Upload, file: Blob, filename: string, opts: UploadOptions) => Promise<void>
}

export function createUploadStore(deps: UploadDeps): StoreApi<UploadState> {
  const send = deps.upload ?? uploadFile
  let ctl: AbortController | null = null
  return createStore<UploadState>()((set, get) => {
    const fail = (error: string) => {
      set({ phase: 'error', error })
      return null
    }
    const busy = () => ['checking', 'zipping', 'creating', 'uploading'].includes(get().phase)

    // upload creates the job and sends file; it returns the job id.
    async function upload(file: File): Promise<string | null> {
      ctl = new AbortController()
      const signal = ctl.signal
      set({ phase: 'creating', fileName: file.name, loaded: 0, total: file.size })
      let created: string | null = null
      try {
        const { job, upload: up } = await deps.client.createJob(file.name, file.size, signal)
        created = job.id
        set({ phase: 'uploading', jobId: job.id })
        await send(up, file, file.name, {
          signal,
          onProgress: (p) => set({ loaded: p.loaded, total: p.total }),
        })
        set({ phase: 'done', loaded: file.size })
        return job.id
      } catch (err) {
        if (err instanceof ApiError && err.code === 'aborted') {
          // A cancelled upload leaves no job waiting for a file that
          // will never come (the server would fail it an hour later).
          if (created) {
            set({ jobId: null })
            await deps.client.deleteJob(created).catch(() => {})
          }
          return fail('The upload was cancelled.')
        }
        return fail(err instanceof Error ? err.message : String(err))
      } finally {
        ctl = null
      }
    }

    return {
      phase: 'idle',
      fileName: '',
      loaded: 0,
      total: 0,
      jobId: null,
      error: null,

      async startFile(file) {
        if (busy()) return null
        set({ phase: 'checking', fileName: file.name, loaded: 0, total: file.size, jobId: null, error: null })
        const r = await sniffFile(file, file.name)
        if (!r.ok) return fail(r.reason)
        return upload(file)
      },

      async startFolder(folder, files) {
        if (busy()) return null
        set({ phase: 'zipping', fileName: `${folder}/`, loaded: 0, total: files.reduce((s, f) => s + f.file.size, 0), jobId: null, error: null })
        const r = await zipDicomFolder(folder, files, (loaded, total) => set({ loaded, total }))
        if (!r.ok) return fail(r.reason)
        return upload(r.zip)
      },

      cancel() {
        ctl?.abort()
      },

      reset() {
        if (busy()) return
        set({ phase: 'idle', fileName: '', loaded: 0, total: 0, jobId: null, error: null })
      },
    }
  })
}
