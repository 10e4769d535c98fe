// One job: its progress while it runs, what went wrong if it failed, and
// once done the workspace: organ list, 3D view, slices, statistics and
// downloads. The 3D view and the slices are separate chunks, loaded when
// first shown.

import { lazy, Suspense, useCallback, useEffect, useState } from 'react'
import { useStore } from 'zustand'
import type { Artifact, Job, JobError, Manifest } from '../api/types'
import { useServices } from '../context'
import { expiresSoon, fetchBytes, fetchWithProgress } from '../downloads'
import { formatBytes, formatTime } from '../format'
import { linkProps, navigate } from '../router'
import { createJobStore } from '../state/jobs'
import { createViewerStore } from '../state/viewer'
import { Downloads } from './Downloads'
import { jobTitle } from './JobList'
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

/** advice says what to do about a failure, beyond the message itself. */
export function advice(e: JobError): string {
  if (e.code === 'gpu_oom') return 'The scan is too large for the GPU. Crop it to the region you need, or resample it to thicker slices, and upload it again.'
  switch (e.stage) {
    case 'upload':
    case 'ingest':
      return 'Fix the file as the message says and upload it again.'
    case 'dispatch':
    case 'segmentation':
      return 'This is usually temporary: upload the scan again in a few minutes. If it fails again, the scan may be one the segmenter cannot read.'
    case 'mesher':
      return 'The organs were found but the models could not be made. Upload the scan again; if it fails again, report the job id.'
    default:
      return e.code === 'timeout' ? 'The job took too long. Upload the scan again; a smaller scan goes faster.' : 'Upload the scan again; if it fails again, report the job id.'
  }
}

function stem(job: Job): string {
  const f = job.input?.file ?? ''
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

  useEffect(() => jobStore.getState().follow(id), [jobStore, id])

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

  const header = (
    <div className="flex flex-wrap items-center gap-x-3 gap-y-2 border-b border-slate-800 px-4 py-2">
      <a {...linkProps('/')} className="text-sm text-sky-300 hover:underline">
        ← Scans
      </a>
      <h1 className="min-w-0 truncate text-base font-semibold" title={job.id}>
        {jobTitle(job)}
      </h1>
      <StatusBadge status={job.status} />
      {done && manifest && (
        <div
          role="tablist"
          aria-label="Views"
          className="flex flex-wrap gap-1 lg:ml-4"
          onKeyDown={(e) => {
            if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return
            const i = TABS.findIndex((t) => t.id === tab)
            const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length]
            setTab(next.id)
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
              onClick={() => setTab(t.id)}
              className={`rounded-md px-3 py-1 text-sm ${tab === t.id ? 'bg-sky-600 text-white' : 'text-slate-300 hover:bg-slate-800'}`}
            >
              {t.label}
            </button>
          ))}
        </div>
      )}
      <button type="button" onClick={() => void remove()} className="ml-auto rounded-md border border-slate-700 px-2 py-1 text-xs text-slate-300 hover:border-red-700 hover:text-red-300">
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
          </section>
          <div className="space-y-6">
            {job.status === 'failed' && job.error && (
              <section role="alert" className="rounded-xl border border-red-800 bg-red-950/40 p-5" data-testid="job-error">
                <h2 className="font-semibold text-red-200">What went wrong</h2>
                <p className="mt-2 text-sm text-red-100">{job.error.message}</p>
                <p className="mt-2 text-sm text-slate-300">{advice(job.error)}</p>
                <p className="mt-2 text-xs text-slate-500">
                  Stage {job.error.stage}, code {job.error.code}, job {job.id}
                </p>
                <a {...linkProps('/')} className="mt-3 inline-block rounded-md bg-sky-600 px-3 py-1.5 text-sm text-white hover:bg-sky-500">
                  Upload a scan
                </a>
              </section>
            )}
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
      <div className="grid min-h-0 flex-1 grid-rows-[minmax(0,60vh)_auto] md:grid-cols-[16rem_minmax(0,1fr)] md:grid-rows-1 lg:grid-cols-[19rem_minmax(0,1fr)]">
        <aside className="order-2 min-h-0 border-slate-800 md:order-1 md:border-r">
          <OrganList store={viewer} />
        </aside>
        <main className="order-1 flex min-h-0 flex-col p-2 md:order-2">
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
        </main>
      </div>
    </div>
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
        <dt className="text-slate-500">Job</dt>
        <dd className="font-mono text-xs leading-5">{job.id}</dd>
        <dt className="text-slate-500">Created</dt>
        <dd>{formatTime(job.createdAt)}</dd>
        {job.engine && (
          <>
            <dt className="text-slate-500">Engine</dt>
            <dd>{job.engine}</dd>
          </>
        )}
        {i && (
          <>
            <dt className="text-slate-500">File</dt>
            <dd className="break-all">
              {i.file} ({i.format}, {formatBytes(i.bytes)})
            </dd>
            <dt className="text-slate-500">Voxels</dt>
            <dd>{i.dims.join(' × ')}</dd>
            <dt className="text-slate-500">Spacing</dt>
            <dd>{i.spacingMm.map((v) => v.toFixed(2)).join(' × ')} mm</dd>
            <dt className="text-slate-500">Orientation</dt>
            <dd>{i.orientation}</dd>
            {i.series && (
              <>
                <dt className="text-slate-500">Series</dt>
                <dd>{i.series}</dd>
              </>
            )}
          </>
        )}
      </dl>
    </section>
  )
}
