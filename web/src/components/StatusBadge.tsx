import type { JobStatus } from '../api/types'

const STYLE: Record<JobStatus, string> = {
  created: 'bg-slate-700 text-slate-200',
  accepted: 'bg-indigo-900 text-indigo-200',
  segmenting: 'bg-sky-900 text-sky-200',
  meshing: 'bg-cyan-900 text-cyan-200',
  done: 'bg-emerald-900 text-emerald-200',
  failed: 'bg-red-900 text-red-200',
}

const TEXT: Record<JobStatus, string> = {
  created: 'uploaded',
  accepted: 'accepted',
  segmenting: 'segmenting',
  meshing: 'meshing',
  done: 'done',
  failed: 'failed',
}

export function StatusBadge({ status }: { status: JobStatus }) {
  return (
    <span data-status={status} className={`inline-block rounded-full px-2 py-0.5 text-xs font-medium ${STYLE[status] ?? STYLE.created}`}>
      {TEXT[status] ?? status}
    </span>
  )
}
