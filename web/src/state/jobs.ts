// Following jobs: polling one job with backoff while it runs, and the list
// of the caller's jobs.

import { createStore, type StoreApi } from 'zustand/vanilla'
import { ApiError, type ApiClient } from '../api/client'
import { isTerminal, type Job } from '../api/types'

export interface Backoff {
  initialMs: number
  maxMs: number
  factor: number
}

/** Poll every second while a job moves, slowing to every 5 s while it sits still. */
export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, maxMs: 5000, factor: 1.5 }

/** backoffDelay is the wait before poll number attempt+1 since the job last changed. */
export function backoffDelay(attempt: number, b: Backoff = DEFAULT_BACKOFF): number {
  const d = b.initialMs * Math.pow(b.factor, Math.max(0, attempt))
  return Math.min(b.maxMs, Math.round(d))
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
  })
}

export interface PollOptions {
  id: string
  get: (id: string, signal: AbortSignal) => Promise<Job>
  onJob: (job: Job) => void
  /** willRetry is false when polling stops because of the error. */
  onError: (err: ApiError, willRetry: boolean) => void
  signal: AbortSignal
  backoff?: Backoff
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

function asApiError(err: unknown): ApiError {
  return err instanceof ApiError ? err : new ApiError(0, 'internal', err instanceof Error ? err.message : String(err))
}

/**
 * pollJob fetches the job until it is done or failed, or signal aborts.
 * Each change of the job (status or update time) resets the backoff, so a
 * moving job is followed closely and a waiting one (a GPU warming up) is
 * asked less often. Network and server errors are retried with the same
 * backoff; a job that is gone (404) or a caller who may not see it stops
 * the polling. It returns the last job seen in a terminal state, or null.
 */
export async function pollJob(o: PollOptions): Promise<Job | null> {
  const wait = o.sleep ?? sleep
  let attempt = 0
  let last = ''
  while (!o.signal.aborted) {
    try {
      const job = await o.get(o.id, o.signal)
      if (o.signal.aborted) return null
      o.onJob(job)
      if (isTerminal(job.status)) return job
      const key = `${job.status}|${job.updatedAt}`
      attempt = key === last ? attempt + 1 : 0
      last = key
    } catch (err) {
      if (o.signal.aborted) return null
      const e = asApiError(err)
      const fatal = e.status === 404 || e.status === 401 || e.status === 403 || e.status === 400
      o.onError(e, !fatal)
      if (fatal) return null
      attempt++
    }
    await wait(backoffDelay(attempt, o.backoff), o.signal)
  }
  return null
}

export interface JobState {
  id: string | null
  job: Job | null
  error: ApiError | null
  /** The last error is being retried (the connection may come back). */
  retrying: boolean
  follow(id: string): () => void
}

/**
 * createJobStore follows one job at a time: follow stops the poll of the
 * job followed before, so two polls never write the one state; it returns
 * the function that stops its own poll.
 */
export function createJobStore(client: Pick<ApiClient, 'getJob'>, backoff?: Backoff): StoreApi<JobState> {
  let current: AbortController | null = null
  return createStore<JobState>()((set, get) => ({
    id: null,
    job: null,
    error: null,
    retrying: false,
    follow(id) {
      current?.abort()
      const ctl = new AbortController()
      current = ctl
      if (get().id !== id) set({ id, job: null, error: null, retrying: false })
      void pollJob({
        id,
        get: (i, signal) => client.getJob(i, signal),
        onJob: (job) => set({ job, error: null, retrying: false }),
        onError: (error, willRetry) => set({ error, retrying: willRetry }),
        signal: ctl.signal,
        backoff,
      })
      return () => {
        ctl.abort()
        if (current === ctl) current = null
      }
    },
  }))
}

export interface JobListState {
  jobs: Job[]
  next: string
  loading: boolean
  error: ApiError | null
  load(): Promise<void>
  more(): Promise<void>
  remove(id: string): Promise<void>
}

export const LIST_PAGE = 20

export function createJobListStore(client: Pick<ApiClient, 'listJobs' | 'deleteJob'>): StoreApi<JobListState> {
  return createStore<JobListState>()((set, get) => ({
    jobs: [],
    next: '',
    loading: false,
    error: null,
    async load() {
      set({ loading: true, error: null })
      try {
        const page = await client.listJobs({ limit: LIST_PAGE })
        set({ jobs: sortNewestFirst(page.jobs), next: page.next ?? '', loading: false })
      } catch (err) {
        set({ error: asApiError(err), loading: false })
      }
    },
    async more() {
      const { next, jobs } = get()
      if (!next) return
      set({ loading: true, error: null })
      try {
        const page = await client.listJobs({ limit: LIST_PAGE, cursor: next })
        const seen = new Set(jobs.map((j) => j.id))
        set({ jobs: sortNewestFirst([...jobs, ...page.jobs.filter((j) => !seen.has(j.id))]), next: page.next ?? '', loading: false })
      } catch (err) {
        set({ error: asApiError(err), loading: false })
      }
    },
    async remove(id) {
      try {
        await client.deleteJob(id)
        set({ jobs: get().jobs.filter((j) => j.id !== id), error: null })
      } catch (err) {
        set({ error: asApiError(err) })
      }
    },
  }))
}

function sortNewestFirst(jobs: Job[]): Job[] {
  // Compare instants, not strings: RFC 3339 times may differ in their fractions' length.
  return [...jobs].sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || b.id.localeCompare(a.id))
}
