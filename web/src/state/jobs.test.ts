import { describe, expect, it } from 'vitest'
import { ApiError } from '../api/client'
import type { Job, JobStatus } from '../api/types'
import { backoffDelay, createJobListStore, createJobStore, pollJob } from './jobs'

function job(status: JobStatus, updatedAt: string = status, extra: Partial<Job> = {}): Job {
  return {
    id: 'j1',
    status,
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt,
    stages: {},
    input: null,
    error: null,
    organs: [],
    artifacts: [],
    ...extra,
  }
}

describe('backoffDelay', () => {
  it('grows from 1 s by half each time and stops at 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 10, 100].map((a) => backoffDelay(a))).toEqual([1000, 1500, 2250, 3375, 5000, 5000, 5000, 5000])
  })
  it('takes its own settings', () => {
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, { initialMs: 100, maxMs: 350, factor: 2 }))).toEqual([100, 200, 350, 350])
  })
})

/** script answers get() from a list: jobs, or errors to throw. */
function script(steps: (Job | Error)[]) {
  let i = 0
  return async () => {
    const s = steps[Math.min(i++, steps.length - 1)]
    if (s instanceof Error) throw s
    return s
  }
}

describe('pollJob', () => {
  it('polls quickly while the job moves and slower while it waits, until done', async () => {
    const waits: number[] = []
    const seen: string[] = []
    const steps = [job('created'), job('accepted'), job('segmenting'), job('segmenting'), job('segmenting'), job('segmenting'), job('segmenting'), job('segmenting'), job('meshing'), job('done')]
    const last = await pollJob({
      id: 'j1',
      get: script(steps),
      onJob: (j) => seen.push(j.status),
      onError: () => {
        throw new Error('no errors expected')
      },
      signal: new AbortController().signal,
      sleep: async (ms) => {
        waits.push(ms)
      },
    })
    expect(last?.status).toBe('done')
    expect(seen).toEqual(steps.map((s) => s.status))
    // one wait between polls; each change resets to 1 s
    expect(waits).toEqual([1000, 1000, 1000, 1500, 2250, 3375, 5000, 5000, 1000])
  })

  it('treats a newer update time as a change', async () => {
    const waits: number[] = []
    await pollJob({
      id: 'j1',
      get: script([job('segmenting', 't1'), job('segmenting', 't1'), job('segmenting', 't2'), job('failed')]),
      onJob: () => {},
      onError: () => {},
      signal: new AbortController().signal,
      sleep: async (ms) => void waits.push(ms),
    })
    expect(waits).toEqual([1000, 1500, 1000])
  })

  it('retries network and server errors with backoff, and recovers', async () => {
    const errors: [string, boolean][] = []
    const waits: number[] = []
    const last = await pollJob({
      id: 'j1',
      get: script([job('accepted'), new ApiError(0, 'network', 'down'), new ApiError(503, 'internal', 'busy'), job('done')]),
      onJob: () => {},
      onError: (e, retry) => errors.push([e.code, retry]),
      signal: new AbortController().signal,
      sleep: async (ms) => void waits.push(ms),
    })
    expect(last?.status).toBe('done')
    expect(errors).toEqual([
      ['network', true],
      ['internal', true],
    ])
    expect(waits).toEqual([1000, 1500, 2250])
  })

  it('stops when the job is gone', async () => {
    const errors: [string, boolean][] = []
    let calls = 0
    const last = await pollJob({
      id: 'j1',
      get: async () => {
        calls++
        throw new ApiError(404, 'not_found', 'no job')
      },
      onJob: () => {},
      onError: (e, retry) => errors.push([e.code, retry]),
      signal: new AbortController().signal,
      sleep: async () => {},
    })
    expect(last).toBeNull()
    expect(calls).toBe(1)
    expect(errors).toEqual([['not_found', false]])
  })

  it('stops when aborted, even while waiting', async () => {
    const ctl = new AbortController()
    let calls = 0
    const p = pollJob({
      id: 'j1',
      get: async () => {
        calls++
        return job('segmenting')
      },
      onJob: () => {},
      onError: () => {},
      signal: ctl.signal,
      // the real sleep: abort must cut the 1 s wait short
    })
    await new Promise((r) => setTimeout(r, 20))
    ctl.abort()
    const t0 = Date.now()
    expect(await p).toBeNull()
    expect(Date.now() - t0).toBeLessThan(500)
    expect(calls).toBe(1)
  })
})

describe('createJobStore', () => {
  it('holds the latest job and the error being retried', async () => {
    const steps = [job('accepted'), new ApiError(0, 'network', 'down'), job('done')]
    const get = script(steps)
    const s = createJobStore({ getJob: get }, { initialMs: 1, maxMs: 1, factor: 1 })
    const states: string[] = []
    s.subscribe((st) => states.push(st.job ? st.job.status + (st.error ? `+${st.error.code}` : '') : 'none'))
    const stop = s.getState().follow('j1')
    await new Promise((r) => setTimeout(r, 50))
    stop()
    expect(states).toEqual(['none', 'accepted', 'accepted+network', 'done'])
    expect(s.getState()).toMatchObject({ id: 'j1', error: null, retrying: false })
  })
})

describe('createJobStore follows one job at a time', () => {
  it('stops polling the first job when a second is followed', async () => {
    const polled: string[] = []
    const s = createJobStore(
      {
        getJob: async (id) => {
          polled.push(id)
          return job('segmenting', 'same', { id })
        },
      },
      { initialMs: 2, maxMs: 2, factor: 1 },
    )
    s.getState().follow('first') // the page navigates away without stopping it
    await new Promise((r) => setTimeout(r, 30))
    const stop = s.getState().follow('second')
    await new Promise((r) => setTimeout(r, 10)) // a poll of the first job in flight settles
    const mark = polled.length
    await new Promise((r) => setTimeout(r, 60))
    stop()
    const after = polled.slice(mark)
    expect(after.length).toBeGreaterThan(2)
    expect(after.filter((id) => id === 'first')).toEqual([])
    expect(s.getState().job?.id).toBe('second')
  })

  it('never shows the first job once the second is followed', async () => {
    let release: () => void = () => {}
    const slow = new Promise<void>((r) => (release = r))
    const s = createJobStore({
      getJob: async (id) => {
        if (id === 'first') await slow // its answer comes after the switch
        return job('segmenting', 'x', { id })
      },
    })
    s.getState().follow('first')
    const stop = s.getState().follow('second')
    await new Promise((r) => setTimeout(r, 10))
    release()
    await new Promise((r) => setTimeout(r, 10))
    stop()
    expect(s.getState()).toMatchObject({ id: 'second', job: { id: 'second' } })
  })
})

describe('createJobListStore', () => {
  it('lists newest first, pages without duplicates, and removes', async () => {
    const a = job('done', 'x', { id: 'a', createdAt: '2026-01-01T00:00:01Z' })
    const b = job('done', 'x', { id: 'b', createdAt: '2026-01-01T00:00:02.5Z' })
    const c = job('failed', 'x', { id: 'c', createdAt: '2026-01-01T00:00:02Z' })
    const calls: unknown[] = []
    const deleted: string[] = []
    const s = createJobListStore({
      listJobs: async (opts) => {
        calls.push(opts)
        return opts?.cursor ? { jobs: [c, a], next: '' } : { jobs: [a, b], next: 'cur1' }
      },
      deleteJob: async (id) => void deleted.push(id),
    })
    await s.getState().load()
    expect(s.getState().jobs.map((j) => j.id)).toEqual(['b', 'a'])
    await s.getState().more()
    expect(s.getState().jobs.map((j) => j.id)).toEqual(['b', 'c', 'a'])
    expect(s.getState().next).toBe('')
    expect(calls).toEqual([{ limit: 20 }, { limit: 20, cursor: 'cur1' }])
    await s.getState().remove('c')
    expect(deleted).toEqual(['c'])
    expect(s.getState().jobs.map((j) => j.id)).toEqual(['b', 'a'])
  })

  it('keeps the list when a delete fails', async () => {
    const s = createJobListStore({
      listJobs: async () => ({ jobs: [job('done', 'x', { id: 'a' })], next: '' }),
      deleteJob: async () => {
        throw new ApiError(500, 'internal', 'oops')
      },
    })
    await s.getState().load()
    await s.getState().remove('a')
    expect(s.getState().jobs).toHaveLength(1)
    expect(s.getState().error?.message).toBe('oops')
  })
})
