// Where a job stands: each stage with when it started and how long it took,
// and a word on what is happening now.

import { useEffect, useState } from 'react'
import type { Job, JobStatus } from '../api/types'
import { formatDuration } from '../format'

export interface Stage {
  status: JobStatus
  label: string
  state: 'done' | 'current' | 'waiting' | 'failed' | 'skipped'
  /** Why a skipped stage did not run. */
  note?: string
  /** Time spent in the stage so far (or in all, once left); null if not reached. */
  ms: number | null
}

const LABELS: Record<Exclude<JobStatus, 'failed'>, string> = {
  created: 'Uploaded',
  accepted: 'Checked and accepted',
  segmenting: 'Finding the organs',
  meshing: 'Making the 3D models',
  done: 'Done',
}

const ORDER: Exclude<JobStatus, 'failed'>[] = ['created', 'accepted', 'segmenting', 'meshing', 'done']

// The step a failure's stage belongs to.
const FAILED_STEP: Record<string, Exclude<JobStatus, 'failed'>> = {
  upload: 'accepted',
  ingest: 'accepted',
  dispatch: 'segmenting',
  segmentation: 'segmenting',
  mesher: 'meshing',
}

// Why segmentation is skipped for a label map upload: the upload is the segmentation.
export const LABEL_MAP_SKIP = 'No segmentation: label map uploaded'

/** isLabelMap says whether the job's upload was a label map, meshed as it is. */
export function isLabelMap(job: Job): boolean {
  return job.input?.kind === 'labelmap'
}

/** stages lays out the pipeline for job at time now (ms). A label map's
 * job skips segmentation, and says so. */
export function stages(job: Job, now: number): Stage[] {
  const at = (s: JobStatus) => {
    const t = job.stages[s]
    return t ? Date.parse(t) : NaN
  }
  const failed = job.status === 'failed'
  const failedAt = at('failed')
  const reached = ORDER.filter((s) => !Number.isNaN(at(s)))
  const lastReached = reached[reached.length - 1]
  // A failed job stopped in the step its error names, or else the last it reached.
  let failedStep: JobStatus | null = null
  if (failed) {
    const named = job.error ? FAILED_STEP[job.error.stage] : undefined
    failedStep = named && ORDER.indexOf(named) >= ORDER.indexOf(lastReached ?? 'created') ? named : (lastReached ?? 'created')
  }
  return ORDER.map((s, i) => {
    const start = at(s)
    const next = ORDER.slice(i + 1).map(at).find((t) => !Number.isNaN(t))
    let state: Stage['state'] = 'waiting'
    if (s === failedStep) state = 'failed'
    else if (s === job.status) state = s === 'done' ? 'done' : 'current'
    else if (!Number.isNaN(start)) state = 'done'
    else if (s === 'segmenting' && isLabelMap(job)) state = 'skipped'
    let ms: number | null = null
    if (!Number.isNaN(start)) {
      const end = next ?? (failed ? failedAt : job.status === s && s !== 'done' ? now : NaN)
      ms = s === 'done' ? 0 : Number.isNaN(end) ? null : Math.max(0, end - start)
    }
    return state === 'skipped' ? { status: s, label: LABELS[s], state, ms, note: LABEL_MAP_SKIP } : { status: s, label: LABELS[s], state, ms }
  })
}

/** note says what a running stage is doing, when there is more to say. */
export function stageNote(job: Job, now: number): string | null {
  const since = (s: JobStatus) => now - Date.parse(job.stages[s] ?? '')
  switch (job.status) {
    case 'created':
      return 'Waiting for the upload to arrive and be checked.'
    case 'accepted':
      return isLabelMap(job) ? 'Queued for meshing: the uploaded label map is used as it is.' : 'Queued for segmentation.'
    case 'segmenting': {
      const t = since('segmenting')
      const remote = (job.engine ?? '').toLowerCase().includes('sagemaker')
      if (remote && t > 30_000) return 'Warming up the GPU: the first scan after a quiet spell waits a few minutes for a GPU machine to start.'
      if (t > 90_000) return 'Still segmenting: a large scan can take several minutes.'
      return null
    }
    default:
      return null
  }
}

export function StageTimeline({ job }: { job: Job }) {
  const [now, setNow] = useState(() => Date.now())
  const running = job.status !== 'done' && job.status !== 'failed'
  useEffect(() => {
    if (!running) return
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(t)
  }, [running])
  const list = stages(job, now)
  const note = stageNote(job, now)
  const total = (job.status === 'done' || job.status === 'failed' ? Date.parse(job.updatedAt) : now) - Date.parse(job.createdAt)
  return (
    <div>
      <ol className="space-y-1" aria-label="Progress" data-testid="stages">
        {list.map((s) => (
          <li key={s.status} data-stage={s.status} data-state={s.state} className="flex items-center gap-3 text-sm">
            <span
              aria-hidden
              className={`grid h-5 w-5 place-items-center rounded-full text-[11px] ${
                s.state === 'done'
                  ? 'bg-emerald-600 text-white'
                  : s.state === 'current'
                    ? 'animate-pulse bg-sky-500 text-white'
                    : s.state === 'failed'
                      ? 'bg-red-600 text-white'
                      : s.state === 'skipped'
                        ? 'border border-slate-600 text-slate-400'
                        : 'bg-slate-800 text-slate-400'
              }`}
            >
              {s.state === 'done' ? '✓' : s.state === 'failed' ? '!' : s.state === 'skipped' ? '–' : ''}
            </span>
            <span className={s.state === 'waiting' || s.state === 'skipped' ? 'text-slate-400' : ''}>
              {s.label}
              {s.state === 'current' && <span className="sr-only"> (in progress)</span>}
              {s.state === 'failed' && <span className="sr-only"> (failed)</span>}
              {s.note && <span className="block text-xs text-slate-400" data-testid="stage-note">Skipped. {s.note}.</span>}
            </span>
            {s.ms !== null && s.status !== 'done' && <span className="ml-auto tabular-nums text-xs text-slate-400">{formatDuration(s.ms)}</span>}
          </li>
        ))}
      </ol>
      {note && (
        <p className="mt-3 rounded-md bg-slate-800/70 px-3 py-2 text-sm text-slate-200" role="status">
          {note}
        </p>
      )}
      {Number.isFinite(total) && <p className="mt-2 text-xs text-slate-400">Total {formatDuration(total)}</p>}
    </div>
  )
}
