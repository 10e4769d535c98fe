// Drop or pick a scan: a NIfTI file, a zip of a DICOM series, or the
// series' folder (zipped here). The file is checked first and goes straight
// to storage, with a real progress bar.

import { useRef, useState } from 'react'
import { useStore } from 'zustand'
import { useServices } from '../context'
import { formatBytes } from '../format'
import { ENGINES } from '../state/anatomy'
import { linkProps, navigate } from '../router'
import { filesFromInput, fromDataTransfer } from '../upload/dicomzip'

export function UploadPanel() {
  const { upload, jobs } = useServices()
  const st = useStore(upload)
  const fileInput = useRef<HTMLInputElement>(null)
  const folderInput = useRef<HTMLInputElement>(null)
  const [over, setOver] = useState(false)
  const busy = ['checking', 'zipping', 'creating', 'uploading'].includes(st.phase)

  const after = (id: string | null) => {
    if (!id) return
    void jobs.getState().load()
    navigate(`/jobs/${id}`)
    upload.getState().reset()
  }

  const onFile = async (file: File | undefined) => {
    if (file) after(await upload.getState().startFile(file))
  }

  const onDrop = async (e: React.DragEvent) => {
    e.preventDefault()
    setOver(false)
    if (busy) return
    const d = await fromDataTransfer(e.dataTransfer)
    if (d.kind === 'file') after(await upload.getState().startFile(d.file))
    else if (d.kind === 'folder') after(await upload.getState().startFolder(d.folder, d.files))
  }

  const pct = st.total > 0 ? Math.round((100 * st.loaded) / st.total) : 0
  const phaseText: Record<string, string> = {
    checking: `Checking ${st.fileName}…`,
    zipping: `Zipping the DICOM folder ${st.fileName}… ${pct}%`,
    creating: `Creating the job for ${st.fileName}…`,
    uploading: `Uploading ${st.fileName}: ${formatBytes(st.loaded)} of ${formatBytes(st.total)} (${pct}%)`,
    done: `Uploaded ${st.fileName}.`,
  }

  return (
    <section aria-labelledby="upload-title" className="rounded-xl border border-slate-800 bg-slate-900/60 p-5">
      <h2 id="upload-title" className="text-lg font-semibold">
        New scan
      </h2>
      <div
        onDragOver={(e) => {
          e.preventDefault()
          setOver(true)
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="dropzone"
        className={`mt-3 rounded-lg border-2 border-dashed p-6 text-center transition-colors ${over ? 'border-sky-400 bg-sky-950/40' : 'border-slate-700'}`}
      >
        <p className="text-slate-200">Drop a CT scan here</p>
        <p className="mt-1 text-sm text-slate-300">a NIfTI volume (.nii, .nii.gz), a .zip of a DICOM series, or the series' folder</p>
        <div className="mt-4 flex flex-wrap justify-center gap-2">
          <button
            type="button"
            disabled={busy}
            onClick={() => fileInput.current?.click()}
            className="rounded-md bg-sky-700 px-4 py-2 text-sm font-medium text-white hover:bg-sky-600 disabled:opacity-50"
          >
            Choose a file
          </button>
          <button
            type="button"
            disabled={busy}
            onClick={() => folderInput.current?.click()}
            className="rounded-md border border-slate-600 px-4 py-2 text-sm font-medium hover:bg-slate-800 disabled:opacity-50"
          >
            Choose a DICOM folder
          </button>
        </div>
        <input
          ref={fileInput}
          type="file"
          accept=".nii,.gz,.nii.gz,.zip,application/gzip,application/zip"
          className="sr-only"
          tabIndex={-1}
          aria-label="Scan file"
          data-testid="file-input"
          onChange={(e) => {
            void onFile(e.target.files?.[0])
            e.target.value = ''
          }}
        />
        <input
          ref={folderInput}
          type="file"
          className="sr-only"
          tabIndex={-1}
          aria-label="DICOM folder"
          {...({ webkitdirectory: '', directory: '' } as Record<string, string>)}
          onChange={(e) => {
            const list = e.target.files
            if (list && list.length > 0) {
              const { folder, files } = filesFromInput(list)
              void upload.getState().startFolder(folder, files).then(after)
            }
            e.target.value = ''
          }}
        />
      </div>
      {st.phase !== 'idle' && (
        <div className="mt-4" aria-live="polite">
          {st.phase === 'error' ? (
            <div role="alert" className="rounded-md border border-red-800 bg-red-950/50 px-3 py-2 text-sm text-red-200">
              <p>{st.error}</p>
              <div className="mt-2 flex gap-2">
                <button
                  type="button"
                  className="min-h-6 rounded border border-red-700 px-2 py-1 text-xs hover:bg-red-900/50"
                  onClick={() => {
                    upload.getState().reset()
                    fileInput.current?.click()
                  }}
                >
                  Try another file
                </button>
                <button type="button" className="min-h-6 rounded border border-red-700 px-2 py-1 text-xs hover:bg-red-900/50" onClick={() => upload.getState().reset()}>
                  Dismiss
                </button>
                {st.jobId && (
                  <a className="inline-flex min-h-6 items-center rounded border border-red-700 px-2 py-1 text-xs hover:bg-red-900/50" {...linkProps(`/jobs/${st.jobId}`)}>
                    Open the job
                  </a>
                )}
              </div>
            </div>
          ) : (
            <>
              <p className="text-sm text-slate-300" data-testid="upload-status">
                {phaseText[st.phase]}
              </p>
              {(st.phase === 'uploading' || st.phase === 'zipping') && (
                <div className="mt-2 flex items-center gap-3">
                  <progress className="h-2 flex-1 overflow-hidden rounded [&::-webkit-progress-bar]:bg-slate-800 [&::-webkit-progress-value]:bg-sky-500" max={st.total || 1} value={st.loaded} aria-label="Upload progress" />
                  {st.phase === 'uploading' && (
                    <button type="button" className="min-h-6 rounded border border-slate-600 px-2 py-1 text-xs hover:bg-slate-800" onClick={() => upload.getState().cancel()}>
                      Cancel
                    </button>
                  )}
                </div>
              )}
            </>
          )}
        </div>
      )}
      <details className="mt-4 text-sm text-slate-300" data-testid="engines">
        <summary className="min-h-6 cursor-pointer text-slate-200">What you get</summary>
        <p className="mt-2">Each scan becomes one 3D model per structure the server's segmentation engine finds, with volumes and downloads (GLB, OBJ, STL). The job page says which engine ran.</p>
        <ul className="mt-2 list-disc space-y-1 pl-5">
          {Object.entries(ENGINES).map(([id, text]) => (
            <li key={id}>{text}</li>
          ))}
        </ul>
      </details>
      <p className="mt-4 text-xs text-slate-400">
        DICOM files are de-identified on arrival and the uploaded originals are deleted once read. Folders are zipped in this browser before upload.
      </p>
    </section>
  )
}
