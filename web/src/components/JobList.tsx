// The caller's jobs, newest first. While any is still running the list
// refreshes itself every few seconds.

import { useEffect } from 'react'
import { useStore } from 'zustand'
import { isTerminal } from '../api/types'
import { useServices } from '../context'
import { formatBytes, formatTime } from '../format'
import { linkProps } from '../router'
import { jobTitle, plainError } from './jobText'
import { StatusBadge } from './StatusBadge'

export function JobList() {
  const { jobs } = useServices()
  const st = useStore(jobs)
  const running = st.jobs.some((j) => !isTerminal(j.status))

  useEffect(() => {
    void jobs.getState().load()
  }, [jobs])

  useEffect(() => {
    if (!running) return
    const t = setInterval(() => void jobs.getState().load(), 5000)
    return () => clearInterval(t)
  }, [jobs, running])

  return (
    <section aria-labelledby="jobs-title" className="rounded-xl border border-slate-800 bg-slate-900/60 p-5">
      <div className="flex items-center">
        <h2 id="jobs-title" className="text-lg font-semibold">
          Your scans
        </h2>
        <button type="button" className="ml-auto min-h-6 rounded border border-slate-700 px-2 py-1 text-xs hover:bg-slate-800" onClick={() => void jobs.getState().load()}>
          Refresh
        </button>
      </div>
      {st.error && (
        <p role="alert" className="mt-3 text-sm text-red-300">
          {st.error.message}
        </p>
      )}
      {st.jobs.length === 0 && !st.loading && !st.error && <p className="mt-3 text-sm text-slate-300">No scans yet. Upload one to begin.</p>}
      {st.jobs.length > 0 && (
        <ul className="mt-3 divide-y divide-slate-800" data-testid="job-list">
          {st.jobs.map((j) => (
            <li key={j.id}>
              <a {...linkProps(`/jobs/${j.id}`)} className="flex min-w-0 flex-wrap items-center gap-x-3 gap-y-1 rounded-md px-2 py-2 hover:bg-slate-800/70">
                <span className="min-w-0 flex-1 break-all font-medium">{jobTitle(j)}</span>
                <StatusBadge status={j.status} />
                <span className="w-full text-xs text-slate-300">
                  {formatTime(j.createdAt)}
                  {j.input ? ` · ${formatBytes(j.input.bytes)}` : ''}
                  {j.status === 'done' ? ` · ${j.organs.length} structures` : ''}
                  {j.status === 'failed' && j.error ? ` · ${plainError(j.error)}` : ''}
                </span>
              </a>
            </li>
          ))}
        </ul>
      )}
      {st.next && (
        <button type="button" disabled={st.loading} className="mt-3 rounded border border-slate-700 px-3 py-1.5 text-sm hover:bg-slate-800" onClick={() => void jobs.getState().more()}>
          Show older scans
        </button>
      )}
    </section>
  )
}
