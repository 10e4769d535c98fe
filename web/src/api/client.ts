// The HTTP API client: JSON requests with the API's error shape turned into
// ApiError, and the direct upload to storage with real progress (fetch has
// no upload progress, so the upload uses XMLHttpRequest).

import type { TokenSource } from '../auth/auth'
import type { CreateJobResponse, Job, JobPage, Upload } from './types'

/** An error the API (or the network, or storage) reported. */
export class ApiError extends Error {
  readonly status: number // HTTP status; 0 when the server was not reached
  readonly code: string // the API's stable code, or "network", "http_<status>", "aborted"

  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }
}

/**
 * errorFromBody reads the message out of an error response body: the API's
 * {"error": {"code", "message"}}, S3's XML <Error><Code/><Message/></Error>,
 * or else the status line.
 */
export function errorFromBody(status: number, statusText: string, body: string): ApiError {
  const text = body.trim()
  if (text.startsWith('{')) {
    try {
      const v = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }
      if (v.error && typeof v.error.message === 'string') {
        const code = typeof v.error.code === 'string' && v.error.code ? v.error.code : `http_${status}`
        return new ApiError(status, code, v.error.message)
      }
    } catch {
      // not JSON after all: fall through
    }
  }
  if (text.startsWith('<')) {
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1]
    const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1]
    if (code || message) {
      return new ApiError(status, code || `http_${status}`, message || code || `HTTP ${status}`)
    }
  }
  const line = statusText ? `${status} ${statusText}` : `HTTP ${status}`
  const detail = text && text.length < 200 && !text.startsWith('<') ? `: ${text}` : ''
  return new ApiError(status, `http_${status}`, `the server answered ${line}${detail}`)
}

/** parseError turns a failed Response into an ApiError. */
export async function parseError(res: Response): Promise<ApiError> {
  let body = ''
  try {
    body = await res.text()
  } catch {
    // the body could not be read; the status is all there is
  }
  return errorFromBody(res.status, res.statusText, body)
}

function networkError(err: unknown): ApiError {
  if (err instanceof DOMException && err.name === 'AbortError') {
    return new ApiError(0, 'aborted', 'the request was cancelled')
  }
  const why = err instanceof Error ? err.message : String(err)
  return new ApiError(0, 'network', `cannot reach the server (${why}); check your connection and try again`)
}

export interface ApiClientOptions {
  /** Origin and path prefix of the API, "" for the page's own origin. */
  base?: string
  fetch?: typeof fetch
  /** Signed in: the bearer token of every API call, renewed on a 401. */
  auth?: TokenSource
}

/** How many jobs' last answers ApiClient keeps to poll them conditionally. */
const KEPT_JOB_ANSWERS = 32

/** A job's last answer and its ETag, kept to poll it conditionally. */
interface KeptAnswer {
  etag: string
  job: Job
}

/** ApiClient calls the IRIS HTTP API. */
export class ApiClient {
  private readonly base: string
  private readonly fetchFn: typeof fetch
  private readonly auth?: TokenSource
  // The last answer of each job polled, in memory only: the API answers
  // no-store (its signed links are not for the browser's disk cache), so
  // the browser would never revalidate by itself.
  private readonly kept = new Map<string, KeptAnswer>()

  constructor(opts: ApiClientOptions = {}) {
    this.base = (opts.base ?? '').replace(/\/+$/, '')
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init))
    this.auth = opts.auth
  }

  /**
   * request sends one JSON request; the body, if any, is sent as JSON.
   * Signed in, it carries the access token; a 401 renews the token and
   * tries once more.
   */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return this.read<T>(method, path, await this.exchange(method, path, body, signal))
  }

  /** exchange sends a request, renewing the token once on a 401. */
  private async exchange(method: string, path: string, body: unknown, signal?: AbortSignal, extra?: Record<string, string>): Promise<Response> {
    let res = await this.send(method, path, body, signal, extra)
    if (res.status === 401 && this.auth) {
      if (await this.auth.refused(res.token)) {
        res = await this.send(method, path, body, signal, extra)
        if (res.status === 401) this.auth.refusedAgain()
      }
    }
    return res.res
  }

  private async send(method: string, path: string, body: unknown, signal?: AbortSignal, extra?: Record<string, string>): Promise<{ res: Response; status: number; token: string | null }> {
    const headers: Record<string, string> = { Accept: 'application/json', ...extra }
    const init: RequestInit = { method, headers, signal, cache: 'no-store' }
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json'
      init.body = JSON.stringify(body)
    }
    const token = this.auth ? await this.auth.token() : null
    if (token) headers.Authorization = `Bearer ${token}`
    let res: Response
    try {
      res = await this.fetchFn(this.base + path, init)
    } catch (err) {
      throw networkError(err)
    }
    return { res, status: res.status, token }
  }

  private async read<T>(method: string, path: string, res: Response): Promise<T> {
    if (!res.ok) throw await parseError(res)
    if (res.status === 204) return undefined as T
    try {
      return (await res.json()) as T
    } catch {
      throw new ApiError(res.status, 'bad_response', `the server sent a response that is not JSON (${method} ${path})`)
    }
  }

  createJob(filename: string, bytes: number, signal?: AbortSignal): Promise<CreateJobResponse> {
    return this.request('POST', '/api/jobs', { filename, bytes }, signal)
  }

  /** renewUpload signs a new upload link for a job still waiting for its file (the old one expired). */
  renewUpload(id: string, bytes: number, signal?: AbortSignal): Promise<{ upload: Upload }> {
    return this.request('POST', `/api/jobs/${encodeURIComponent(id)}/upload`, { bytes }, signal)
  }

  /**
   * getJob reads a job. It sends back the ETag of the job's last answer in
   * If-None-Match, and on 304 Not Modified returns that answer again (the
   * same object), so a poll of an unchanged job moves no body and the
   * server renders nothing.
   */
  async getJob(id: string, signal?: AbortSignal): Promise<Job> {
    const path = `/api/jobs/${encodeURIComponent(id)}`
    const kept = this.kept.get(id)
    const res = await this.exchange('GET', path, undefined, signal, kept ? { 'If-None-Match': kept.etag } : undefined)
    if (res.status === 304 && kept) return kept.job
    const job = await this.read<Job>('GET', path, res)
    const etag = res.headers.get('ETag')
    this.kept.delete(id)
    if (etag) {
      if (this.kept.size >= KEPT_JOB_ANSWERS) this.kept.delete(this.kept.keys().next().value as string)
      this.kept.set(id, { etag, job })
    }
    return job
  }

  listJobs(opts: { limit?: number; cursor?: string } = {}, signal?: AbortSignal): Promise<JobPage> {
    const q = new URLSearchParams()
    if (opts.limit) q.set('limit', String(opts.limit))
    if (opts.cursor) q.set('cursor', opts.cursor)
    const qs = q.toString()
    return this.request('GET', `/api/jobs${qs ? `?${qs}` : ''}`, undefined, signal)
  }

  deleteJob(id: string, signal?: AbortSignal): Promise<void> {
    this.kept.delete(id)
    return this.request('DELETE', `/api/jobs/${encodeURIComponent(id)}`, undefined, signal)
  }

  health(signal?: AbortSignal): Promise<{ status: string; components: Record<string, string> }> {
    return this.request('GET', '/api/health', undefined, signal)
  }
}

/** The parts of XMLHttpRequest the upload uses, so tests can fake it. */
export interface XhrLike {
  open(method: string, url: string): void
  setRequestHeader(name: string, value: string): void
  send(body: Blob | FormData): void
  abort(): void
  readonly upload: { onprogress: ((ev: { loaded: number; total: number; lengthComputable: boolean }) => void) | null }
  onload: (() => void) | null
  onerror: (() => void) | null
  onabort: (() => void) | null
  readonly status: number
  readonly statusText: string
  readonly responseText: string
}

export interface UploadRequest {
  method: 'PUT' | 'POST'
  url: string
  headers: Record<string, string>
  body: Blob | FormData
}

/**
 * buildUploadRequest makes the request a signed upload asks for: a PUT of
 * the file itself with the signed headers, or a presigned POST, a form of
 * the signed fields with the file last (S3 ignores fields after the file).
 */
export function buildUploadRequest(up: Upload, file: Blob, filename: string): UploadRequest {
  if (up.method === 'POST') {
    const form = new FormData()
    for (const [k, v] of Object.entries(up.fields ?? {})) form.append(k, v)
    form.append('file', file, filename)
    // The browser sets the multipart Content-Type with its boundary.
    const headers = Object.fromEntries(Object.entries(up.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'content-type'))
    return { method: 'POST', url: up.url, headers, body: form }
  }
  if (up.method !== 'PUT') throw new ApiError(0, 'bad_upload', `the server asked for an upload by ${String(up.method)}, which this app cannot do`)
  return { method: 'PUT', url: up.url, headers: { ...(up.headers ?? {}) }, body: file }
}

export interface UploadProgress {
  loaded: number
  total: number
}

export interface UploadOptions {
  onProgress?: (p: UploadProgress) => void
  signal?: AbortSignal
  /** Makes the request object; tests pass a fake. */
  xhr?: () => XhrLike
}

const usedLink = "this job's file was sent already; an upload link is good for one upload"

/**
 * uploadFile sends file straight to storage as up says, reporting
 * progress. A PUT carries every header the server signed, If-None-Match: *
 * among them on S3, which makes the link good for one upload.
 */
export function uploadFile(up: Upload, file: Blob, filename: string, opts: UploadOptions = {}): Promise<void> {
  const req = buildUploadRequest(up, file, filename)
  const xhr = opts.xhr ? opts.xhr() : (new XMLHttpRequest() as unknown as XhrLike)
  return new Promise<void>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(new ApiError(0, 'aborted', 'the upload was cancelled'))
      return
    }
    const onAbortSignal = () => xhr.abort()
    opts.signal?.addEventListener('abort', onAbortSignal, { once: true })
    const done = () => opts.signal?.removeEventListener('abort', onAbortSignal)
    xhr.open(req.method, req.url)
    for (const [k, v] of Object.entries(req.headers)) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (ev) => {
      const total = ev.lengthComputable && ev.total > 0 ? ev.total : file.size
      opts.onProgress?.({ loaded: Math.min(ev.loaded, total), total })
    }
    xhr.onload = () => {
      done()
      if (xhr.status >= 200 && xhr.status < 300) {
        opts.onProgress?.({ loaded: file.size, total: file.size })
        resolve()
        return
      }
      const err = errorFromBody(xhr.status, xhr.statusText, xhr.responseText)
      // S3 refuses a second PUT with a signed If-None-Match: * (412), as
      // iris serve refuses a second upload to a job (409).
      const message = err.code === 'PreconditionFailed' ? usedLink : err.message
      reject(new ApiError(err.status, err.code, `the upload failed: ${message}`))
    }
    xhr.onerror = () => {
      done()
      reject(new ApiError(0, 'network', 'the upload was interrupted: the connection to storage failed; check your connection and try again'))
    }
    xhr.onabort = () => {
      done()
      reject(new ApiError(0, 'aborted', 'the upload was cancelled'))
    }
    xhr.send(req.body)
  })
}
