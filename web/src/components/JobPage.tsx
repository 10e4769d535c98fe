// One job: its progress while it runs, what went wrong if it failed, and
// once done the workspace: organ list, 3D view, slices, statistics and
// downloads. The 3D view and the slices are separate chunks, loaded when
// first shown.

import { lazy, Suspense, useCallback, useEffect, useRef, useState } from 'react'
import { useStore } from 'zustand'
import type { Artifact, Job, JobError, Manifest } from '../api/types'
import { useServices } from '../context'
import { expiresSoon, fetchBytes, fetchWithProgress } from '../downloads'
import { formatBytes, formatTime } from '../format'
import { linkProps, navigate } from '../router'
import { engineNote } from '../state/anatomy'
import { createJobStore } from '../state/jobs'
import { createViewerStore } from '../state/viewer'
import { Downloads } from './Downloads'
import { advice, jobTitle, pageTitle, plainError } from './jobText'
import { OrganList } from './OrganList'
import { PrintPack } from './PrintPack'
import { StageTimeline } from './StageTimeline'
import { StatsTable } from './StatsTable'
import { StatusBadge } from './StatusBadge'

const Viewer3D = lazy(() => import('../viewer/Viewer3D'))
const SliceView = lazy(() => import('../slices/SliceView'))

type Tab = '3d' | 'split' | 'slices' | 'stats' | 'downloads'

const TABS: { id: Tab; label: string }[] = [
  { id: '3d', label: '3D' },
  { id: 'split', label: '3D + slices' },
  { id: 'slices', label: 'Slices' },
  { id: 'stats', label: 'Statistics' },
  { id: 'downloads', label: 'Downloads' },
]

function stem(job: Job): string {
  const f = job.input?.file || job.fileName || ''
  return (f.replace(/\.(nii\.gz|nii|zip)$/i, '') || job.id).replace(/[^A-Za-z0-9._-]+/g, '_')
}

export function JobPage({ id }: { id: string }) {
  const { client, jobs } = useServices()
  const [jobStore] = useState(() => createJobStore(client))
  const [viewer] = useState(() => createViewerStore())
  const job = useStore(jobStore, (s) => s.job)
  const error = useStore(jobStore, (s) => s.error)
  const retrying = useStore(jobStore, (s) => s.retrying)
  const [manifest, setManifest] = useState<Manifest | null>(null)
  const [manifestError, setManifestError] = useState<string | null>(null)
  const [tab, setTab] = useState<Tab>('3d')
  const [slicesOpened, setSlicesOpened] = useState(false)
  const [drawer, setDrawer] = useState(false)

  useEffect(() => jobStore.getState().follow(id), [jobStore, id])

  // The tab's title shows the job's status, so a background tab tells when it is done.
  useEffect(() => {
    if (job) document.title = pageTitle(job)
  }, [job])
  useEffect(() => () => void (document.title = 'IRIS Oculus'), [])

  // Signed URLs expire: renew them (by reading the job again) before use.
  const fresh = useCallback(async (): Promise<Artifact[]> => {
    const j = jobStore.getState().job
    if (!j) return []
    if (!j.artifacts.some((a) => expiresSoon(a))) return j.artifacts
    const renewed = await client.getJob(id)
    jobStore.setState({ job: renewed })
    return renewed.artifacts
  }, [client, id, jobStore])

  const fetchArtifact = useCallback(
    async (name: string) => {
      const a = (await fresh()).find((x) => x.name === name)
      if (!a) throw new Error(`the job has no ${name}`)
      return fetchBytes(a.url)
    },
    [fresh],
  )

  const loadGlb = useCallback(
    async (onProgress: (f: number) => void) => {
      const a = (await fresh()).find((x) => x.name === 'scene.glb')
      if (!a) throw new Error('the job has no scene.glb')
      return fetchWithProgress(a.url, onProgress)
    },
    [fresh],
  )

  const done = job?.status === 'done'
  useEffect(() => {
    if (!done || manifest) return
    let cancelled = false
    fetchArtifact('manifest.json')
      .then((buf) => JSON.parse(new TextDecoder().decode(buf)) as Manifest)
      .then((m) => {
        if (cancelled) return
        viewer.getState().load(m.organs ?? [])
        setManifest(m)
      })
      .catch((err) => !cancelled && setManifestError(`The model set's manifest could not be read: ${err instanceof Error ? err.message : String(err)}`))
    return () => {
      cancelled = true
    }
  }, [done, manifest, fetchArtifact, viewer])

  useEffect(() => {
    if (tab === 'split' || tab === 'slices') setSlicesOpened(true)
  }, [tab])

  const remove = async () => {
    if (!window.confirm('Delete this job and all its files? This cannot be undone.')) return
    await jobs.getState().remove(id)
    if (!jobs.getState().error) navigate('/')
  }

  if (!job) {
    return (
      <div className="mx-auto max-w-2xl p-6">
        {error ? (
          <div role="alert" className="rounded-lg border border-red-800 bg-red-950/40 p-4">
            <p className="font-medium text-red-200">{error.status === 404 ? 'There is no such job (it may have been deleted).' : error.message}</p>
            <a {...linkProps('/')} className="mt-3 inline-block text-sm text-sky-300 underline">
              Back to your scans
            </a>
          </div>
        ) : (
          <p role="status" className="text-slate-400">
            Loading the job…
          </p>
        )}
      </div>
    )
  }

  const selectTab = (t: Tab) => {
    setTab(t)
    setDrawer(false)
  }
  const header = (
    <div className="flex flex-wrap items-center gap-x-3 gap-y-2 border-b border-slate-800 px-4 py-2">
      <a {...linkProps('/')} className="inline-flex min-h-6 items-center text-sm text-sky-300 hover:underline">
        ← Scans
      </a>
      <h1 className="min-w-0 max-w-full truncate text-base font-semibold" title={job.id}>
        {jobTitle(job)}
      </h1>
      <StatusBadge status={job.status} />
      {done && manifest && (
        <>
          <div
            role="tablist"
            aria-label="Views"
            className="hidden flex-wrap gap-1 sm:flex lg:ml-4"
            onKeyDown={(e) => {
              if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return
              const i = TABS.findIndex((t) => t.id === tab)
              const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length]
              selectTab(next.id)
              e.currentTarget.querySelector<HTMLElement>(`[data-tab="${next.id}"]`)?.focus()
              e.preventDefault()
            }}
          >
            {TABS.map((t) => (
              <button
                key={t.id}
                type="button"
                role="tab"
                data-tab={t.id}
                aria-selected={tab === t.id}
                tabIndex={tab === t.id ? 0 : -1}
                onClick={() => selectTab(t.id)}
                className={`min-h-6 rounded-md px-3 py-1 text-sm ${tab === t.id ? 'bg-sky-700 text-white' : 'text-slate-300 hover:bg-slate-800'}`}
              >
                {t.label}
              </button>
            ))}
          </div>
          {/* Narrow screens: the views in a menu, and the organ list in a drawer. */}
          <label className="flex items-center gap-1 text-sm sm:hidden">
            <span className="text-slate-300">View</span>
            <select className="min-h-6 rounded-md border border-slate-700 bg-slate-900 px-1 py-0.5" value={tab} onChange={(e) => selectTab(e.target.value as Tab)} data-testid="view-menu">
              {TABS.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.label}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className="min-h-6 rounded-md border border-slate-700 px-2 py-0.5 text-sm md:hidden"
            aria-expanded={drawer}
            aria-controls="organ-drawer"
            onClick={() => setDrawer(true)}
            data-testid="organs-button"
          >
            Organs
          </button>
        </>
      )}
      <button type="button" onClick={() => void remove()} className="ml-auto min-h-6 rounded-md border border-slate-700 px-2 py-1 text-xs text-slate-300 hover:border-red-700 hover:text-red-300">
        Delete job
      </button>
    </div>
  )

  const lost = error && retrying && (
    <p role="status" className="bg-amber-950/60 px-4 py-1 text-sm text-amber-200">
      Lost contact with the server ({error.message}); retrying…
    </p>
  )

  if (!done || !manifest) {
    return (
      <div>
        {header}
        {lost}
        <div className="mx-auto grid max-w-4xl gap-6 p-6 md:grid-cols-2">
          <section aria-label="Progress" className="rounded-xl border border-slate-800 bg-slate-900/60 p-5">
            <h2 className="mb-3 font-semibold">{job.status === 'failed' ? 'The job failed' : done ? 'Opening the results…' : 'Working on it'}</h2>
            <StageTimeline job={job} />
            {job.engine && engineNote(job.engine) && <p className="mt-4 text-xs text-slate-400">{engineNote(job.engine)}</p>}
          </section>
          <div className="space-y-6">
            {job.status === 'failed' && job.error && <FailureCard job={job} error={job.error} />}
            {manifestError && (
              <p role="alert" className="rounded-lg border border-red-800 bg-red-950/40 p-4 text-sm text-red-200">
                {manifestError}
              </p>
            )}
            <InputFacts job={job} />
          </div>
        </div>
      </div>
    )
  }

  const hasCT = job.artifacts.some((a) => a.name === 'ct.nii.gz')
  const show3D = tab === '3d' || tab === 'split'
  const showSlices = tab === 'slices' || tab === 'split'
  return (
    <div className="flex h-full min-h-0 flex-col">
      {header}
      {lost}
      <div className="grid min-h-0 flex-1 md:grid-cols-[16rem_minmax(0,1fr)] lg:grid-cols-[19rem_minmax(0,1fr)]">
        {drawer && <div className="fixed inset-0 z-30 bg-black/60 md:hidden" onClick={() => setDrawer(false)} aria-hidden />}
        <aside
          id="organ-drawer"
          className={`min-h-0 border-slate-800 md:static md:block md:border-r ${drawer ? 'fixed inset-y-0 left-0 z-40 flex w-[min(22rem,88vw)] flex-col bg-slate-950 shadow-2xl' : 'hidden'}`}
          {...(drawer ? { role: 'dialog', 'aria-modal': true, 'aria-label': 'Organs' } : {})}
          onKeyDown={(e) => e.key === 'Escape' && setDrawer(false)}
        >
          {drawer && (
            <div className="flex items-center justify-between border-b border-slate-800 px-3 py-1.5 md:hidden">
              <span className="font-semibold">Organs</span>
              <DrawerClose onClose={() => setDrawer(false)} />
            </div>
          )}
          <div className="min-h-0 flex-1 md:h-full">
            <OrganList store={viewer} />
          </div>
        </aside>
        <div className="flex min-h-0 flex-col p-2" id="workspace">
          <div className={`grid min-h-0 flex-1 gap-2 ${tab === 'split' ? 'lg:grid-cols-2 grid-rows-2 lg:grid-rows-1' : ''} ${show3D || showSlices ? '' : 'hidden'}`}>
            <div className={`min-h-0 ${show3D ? '' : 'hidden'}`}>
              <Suspense fallback={<Loading what="the 3D viewer" />}>
                <Viewer3D store={viewer} loadGlb={loadGlb} fileStem={stem(job)} />
              </Suspense>
            </div>
            {slicesOpened && (
              <div className={`min-h-0 ${showSlices ? '' : 'hidden'}`}>
                <Suspense fallback={<Loading what="the slice viewer" />}>
                  <SliceView store={viewer} fetchArtifact={fetchArtifact} hasCT={hasCT} />
                </Suspense>
              </div>
            )}
          </div>
          {tab === 'stats' && <StatsTable store={viewer} fileStem={stem(job)} />}
          {tab === 'downloads' && (
            <div className="min-h-0 flex-1 space-y-4 overflow-auto">
              <Downloads artifacts={job.artifacts} fresh={fresh} fileStem={stem(job)} />
              {job.status === 'done' && <PrintPack client={client} jobId={job.id} organs={job.organs} fileStem={stem(job)} />}
              <InputFacts job={job} />
            </div>
          )}
        </div>
      </div>
    </div>
  )
}

/** DrawerClose takes the focus when the drawer opens, and closes it. */
function DrawerClose({ onClose }: { onClose: () => void }) {
  const ref = useRef<HTMLButtonElement>(null)
  useEffect(() => ref.current?.focus(), [])
  return (
    <button ref={ref} type="button" className="min-h-6 rounded-md border border-slate-700 px-2 py-0.5 text-sm" onClick={onClose}>
      Close
    </button>
  )
}

/**
 * FailureCard says in one sentence what went wrong and what to do, keeps
 * the server's own words behind a disclosure, and offers to try another
 * file at once.
 */
function FailureCard({ job, error }: { job: Job; error: JobError }) {
  const { upload, jobs } = useServices()
  const input = useRef<HTMLInputElement>(null)
  const st = useStore(upload)
  const busy = ['checking', 'zipping', 'creating', 'uploading'].includes(st.phase)
  const onFile = async (file: File | undefined) => {
    if (!file) return
    const next = await upload.getState().startFile(file)
    if (!next) return
    void jobs.getState().load()
    upload.getState().reset()
    navigate(`/jobs/${next}`)
  }
  return (
    <section role="alert" aria-labelledby="failure-title" className="rounded-xl border border-red-800 bg-red-950/40 p-5" data-testid="job-error">
      <h2 id="failure-title" className="font-semibold text-red-200">
        What went wrong
      </h2>
      <p className="mt-2 text-red-100" data-testid="job-error-plain">
        {plainError(error)}
      </p>
      <p className="mt-2 text-sm text-slate-200">{advice(error)}</p>
      <details className="mt-3 text-sm text-slate-300" data-testid="job-error-details">
        <summary className="min-h-6 cursor-pointer text-slate-200">Details</summary>
        <dl className="mt-2 grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
          <dt className="text-slate-400">Message</dt>
          <dd className="break-words">{error.message}</dd>
          <dt className="text-slate-400">File</dt>
          <dd className="break-all">{jobTitle(job)}</dd>
          <dt className="text-slate-400">Stage</dt>
          <dd>{error.stage}</dd>
          <dt className="text-slate-400">Code</dt>
          <dd className="font-mono text-xs leading-5">{error.code}</dd>
          <dt className="text-slate-400">Job</dt>
          <dd className="font-mono text-xs leading-5">{job.id}</dd>
        </dl>
      </details>
      <div className="mt-4 flex flex-wrap items-center gap-2">
        <button
          type="button"
          disabled={busy}
          onClick={() => input.current?.click()}
          className="min-h-6 rounded-md bg-sky-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-sky-600 disabled:opacity-50"
        >
          Try another file
        </button>
        <a {...linkProps('/')} className="inline-flex min-h-6 items-center text-sm text-sky-300 underline">
          Back to your scans
        </a>
        <input
          ref={input}
          type="file"
          accept=".nii,.gz,.nii.gz,.zip,application/gzip,application/zip"
          className="sr-only"
          tabIndex={-1}
          aria-label="Another scan file"
          data-testid="retry-file-input"
          onChange={(e) => {
            void onFile(e.target.files?.[0])
            e.target.value = ''
          }}
        />
      </div>
      {busy && <p className="mt-2 text-sm text-slate-300">{st.phase === 'uploading' ? `Uploading ${st.fileName}…` : `Checking ${st.fileName}…`}</p>}
      {st.phase === 'error' && st.error && <p className="mt-2 text-sm text-red-200">{st.error}</p>}
    </section>
  )
}

function Loading({ what }: { what: string }) {
  return (
    <div role="status" className="grid h-full place-items-center text-sm text-slate-400">
      Loading {what}…
    </div>
  )
}

function InputFacts({ job }: { job: Job }) {
  const i = job.input
  return (
    <section aria-label="Scan" className="max-w-3xl rounded-xl border border-slate-800 bg-slate-900/60 p-5 text-sm">
      <h2 className="mb-2 font-semibold">Scan</h2>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-slate-300">
        <dt className="text-slate-400">Job</dt>
        <dd className="font-mono text-xs leading-5">{job.id}</dd>
        <dt className="text-slate-400">Created</dt>
        <dd>{formatTime(job.createdAt)}</dd>
        {job.engine && (
          <>
            <dt className="text-slate-400">Engine</dt>
            <dd>
              {job.engine}
              {engineNote(job.engine) && <span className="mt-0.5 block text-xs text-slate-400">{engineNote(job.engine)}</span>}
            </dd>
          </>
        )}
        {!i && job.fileName && (
          <>
            <dt className="text-slate-400">File</dt>
            <dd className="break-all">{job.fileName}</dd>
          </>
        )}
        {i && (
          <>
            <dt className="text-slate-400">File</dt>
            <dd className="break-all">
              {i.file} ({i.format}, {formatBytes(i.bytes)})
            </dd>
            <dt className="text-slate-400">Voxels</dt>
            <dd>{i.dims.join(' × ')}</dd>
            <dt className="text-slate-400">Spacing</dt>
            <dd>{i.spacingMm.map((v) => v.toFixed(2)).join(' × ')} mm</dd>
            <dt className="text-slate-400">Orientation</dt>
            <dd>{i.orientation}</dd>
            {i.series && (
              <>
                <dt className="text-slate-400">Series</dt>
                <dd>{i.series}</dd>
              </>
            )}
          </>
        )}
      </dl>
    </section>
  )
}
