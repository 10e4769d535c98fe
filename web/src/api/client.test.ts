import { describe, expect, it } from 'vitest'
import { ApiClient, ApiError, buildUploadRequest, errorFromBody, uploadFile, type XhrLike } from './client'
import type { Upload } from './types'

type Call = { url: string; init: RequestInit }

function fakeFetch(responses: Response[] | ((url: string) => Response)) {
  const calls: Call[] = []
  const fn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(input), init: init ?? {} })
    if (typeof responses === 'function') return responses(String(input))
    const r = responses.shift()
    if (!r) throw new Error('no more responses')
    return r
  }) as typeof fetch
  return { fn, calls }
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('ApiClient requests', () => {
  it('creates a job with a JSON body', async () => {
    const f = fakeFetch([json(201, { job: { id: 'j1' }, upload: { method: 'PUT', url: '/blobs/x' } })])
    const c = new ApiClient({ base: 'http://h:1/', fetch: f.fn })
    const r = await c.createJob('ct.nii.gz', 1234)
    expect(r.job.id).toBe('j1')
    expect(f.calls).toHaveLength(1)
    expect(f.calls[0].url).toBe('http://h:1/api/jobs')
    expect(f.calls[0].init.method).toBe('POST')
    expect((f.calls[0].init.headers as Record<string, string>)['Content-Type']).toBe('application/json')
    expect(JSON.parse(f.calls[0].init.body as string)).toEqual({ filename: 'ct.nii.gz', bytes: 1234 })
  })

  it.each([
    [{}, '/api/jobs'],
    [{ limit: 5 }, '/api/jobs?limit=5'],
    [{ limit: 20, cursor: 'a b&c' }, '/api/jobs?limit=20&cursor=a+b%26c'],
  ])('lists jobs with %j', async (opts, url) => {
    const f = fakeFetch([json(200, { jobs: [], next: '' })])
    await new ApiClient({ fetch: f.fn }).listJobs(opts)
    expect(f.calls[0].url).toBe(url)
    expect(f.calls[0].init.method).toBe('GET')
    expect(f.calls[0].init.body).toBeUndefined()
  })

  it('renews an upload link', async () => {
    const f = fakeFetch([json(200, { upload: { method: 'PUT', url: '/blobs/uploads/j1/ct.nii.gz?sig=2' } })])
    const r = await new ApiClient({ fetch: f.fn }).renewUpload('j1', 99)
    expect(r.upload.url).toContain('sig=2')
    expect(f.calls[0].url).toBe('/api/jobs/j1/upload')
    expect(f.calls[0].init.method).toBe('POST')
    expect(JSON.parse(f.calls[0].init.body as string)).toEqual({ bytes: 99 })
  })

    it('escapes job ids and accepts 204', async () => {
    const f = fakeFetch([new Response(null, { status: 204 })])
    await expect(new ApiClient({ fetch: f.fn }).deleteJob('a/b')).resolves.toBeUndefined()
    expect(f.calls[0].url).toBe('/api/jobs/a%2Fb')
    expect(f.calls[0].init.method).toBe('DELETE')
  })

  it('turns the API error body into an ApiError', async () => {
    const f = fakeFetch([json(415, { error: { code: 'unsupported_file', message: '"x.txt" is not a supported scan' } })])
    const err = await new ApiClient({ fetch: f.fn }).createJob('x.txt', 1).catch((e) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject({ status: 415, code: 'unsupported_file', message: '"x.txt" is not a supported scan' })
  })

  it('reports an unreachable server as a network error', async () => {
    const fn = (async () => {
      throw new TypeError('Failed to fetch')
    }) as typeof fetch
    const err = await new ApiClient({ fetch: fn }).getJob('j').catch((e) => e)
    expect(err).toMatchObject({ status: 0, code: 'network' })
    expect(err.message).toContain('Failed to fetch')
  })

  it('rejects a 200 that is not JSON', async () => {
    const f = fakeFetch([new Response('<html>', { status: 200 })])
    await expect(new ApiClient({ fetch: f.fn }).getJob('j')).rejects.toMatchObject({ code: 'bad_response' })
  })
})

describe('ApiClient job polls', () => {
  const withTag = (etag: string, body: unknown) =>
    new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json', ETag: etag } })
  const sent = (c: Call) => (c.init.headers as Record<string, string>)['If-None-Match']

  it('sends the last ETag back and returns the kept answer on 304', async () => {
    const f = fakeFetch([withTag('"v1"', { id: 'j', status: 'meshing' }), new Response(null, { status: 304 }), withTag('"v2"', { id: 'j', status: 'done' })])
    const c = new ApiClient({ fetch: f.fn })
    const first = await c.getJob('j')
    const again = await c.getJob('j')
    const changed = await c.getJob('j')
    expect(f.calls.map(sent)).toEqual([undefined, '"v1"', '"v1"'])
    expect(again).toBe(first)
    expect(changed.status).toBe('done')
    expect(f.calls.every((x) => x.init.cache === 'no-store')).toBe(true)
  })

  it('keeps nothing from an answer without an ETag (the Lambda API sends none)', async () => {
    const f = fakeFetch([json(200, { id: 'j', status: 'meshing' }), json(200, { id: 'j', status: 'meshing' })])
    const c = new ApiClient({ fetch: f.fn })
    await c.getJob('j')
    await c.getJob('j')
    expect(f.calls.map(sent)).toEqual([undefined, undefined])
  })

  it('forgets a job it deletes, and a job whose answer was an error', async () => {
    const f = fakeFetch([
      withTag('"a"', { id: 'a' }),
      new Response(null, { status: 204 }),
      withTag('"b"', { id: 'b' }),
      json(404, { error: { code: 'not_found', message: 'no job "b"' } }),
      withTag('"a2"', { id: 'a' }),
      withTag('"b2"', { id: 'b' }),
    ])
    const c = new ApiClient({ fetch: f.fn })
    await c.getJob('a')
    await c.deleteJob('a')
    await c.getJob('b')
    await expect(c.getJob('b')).rejects.toMatchObject({ code: 'not_found' })
    await c.getJob('a')
    await c.getJob('b')
    expect(f.calls.filter((x) => x.init.method === 'GET').map(sent)).toEqual([undefined, undefined, '"b"', undefined, '"b"'])
  })

  it('keeps at most 32 jobs, dropping the oldest', async () => {
    const f = fakeFetch((url) => withTag(`"${url}"`, { id: url }))
    const c = new ApiClient({ fetch: f.fn })
    for (let i = 0; i <= 32; i++) await c.getJob(`j${i}`)
    await c.getJob('j0')
    await c.getJob('j32')
    expect(f.calls.slice(-2).map(sent)).toEqual([undefined, '"/api/jobs/j32"'])
  })
})

describe('errorFromBody', () => {
  it.each([
    [404, 'Not Found', '{"error":{"code":"not_found","message":"no job \\"x\\""}}', 'not_found', 'no job "x"'],
    [403, 'Forbidden', '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>', 'AccessDenied', 'Request has expired'],
    [502, 'Bad Gateway', '<html><body>nginx</body></html>', 'http_502', 'the server answered 502 Bad Gateway'],
    [500, '', 'boom', 'http_500', 'the server answered HTTP 500: boom'],
    [400, 'Bad Request', '{"error":{"message":"no code"}}', 'http_400', 'no code'],
    [400, 'Bad Request', '{not json', 'http_400', 'the server answered 400 Bad Request: {not json'],
  ])('%i %s', (status, statusText, body, code, message) => {
    const e = errorFromBody(status, statusText, body)
    expect(e.code).toBe(code)
    expect(e.message).toBe(message)
    expect(e.status).toBe(status)
  })
})

const putUpload: Upload = {
  method: 'PUT',
  url: '/blobs/uploads/j1/ct.nii.gz?sig=1',
  headers: { 'Content-Type': 'application/octet-stream' },
  expiresAt: '2030-01-01T00:00:00Z',
}

describe('buildUploadRequest', () => {
  it('PUTs the file with the signed headers', () => {
    const file = new Blob([new Uint8Array(10)])
    const r = buildUploadRequest(putUpload, file, 'ct.nii.gz')
    expect(r).toEqual({ method: 'PUT', url: putUpload.url, headers: { 'Content-Type': 'application/octet-stream' }, body: file })
  })

  it('POSTs a form of the fields with the file last', async () => {
    const up: Upload = {
      method: 'POST',
      url: 'https://bucket.example/',
      fields: { key: 'uploads/j1/ct.zip', policy: 'p', 'x-amz-signature': 's' },
      headers: { 'Content-Type': 'multipart/form-data' },
      expiresAt: '2030-01-01T00:00:00Z',
    }
    const r = buildUploadRequest(up, new Blob(['abc']), 'ct.zip')
    expect(r.method).toBe('POST')
    expect(r.headers).toEqual({}) // the browser writes the boundary
    const form = r.body as FormData
    expect([...form.keys()]).toEqual(['key', 'policy', 'x-amz-signature', 'file'])
    const f = form.get('file') as File
    expect(f.name).toBe('ct.zip')
    expect(await f.text()).toBe('abc')
  })

  it('refuses another method', () => {
    expect(() => buildUploadRequest({ ...putUpload, method: 'PATCH' as 'PUT' }, new Blob([]), 'x')).toThrow(/PATCH/)
  })
})

/** FakeXhr records what the upload does and lets the test drive events. */
class FakeXhr implements XhrLike {
  static last: FakeXhr
  method = ''
  url = ''
  headers: Record<string, string> = {}
  body: Blob | FormData | null = null
  aborted = false
  upload: XhrLike['upload'] = { onprogress: null }
  onload: (() => void) | null = null
  onerror: (() => void) | null = null
  onabort: (() => void) | null = null
  status = 0
  statusText = ''
  responseText = ''
  constructor() {
    FakeXhr.last = this
  }
  open(method: string, url: string) {
    this.method = method
    this.url = url
  }
  setRequestHeader(k: string, v: string) {
    this.headers[k] = v
  }
  send(body: Blob | FormData) {
    this.body = body
  }
  abort() {
    this.aborted = true
    this.onabort?.()
  }
  progress(loaded: number, total: number, lengthComputable = true) {
    this.upload.onprogress?.({ loaded, total, lengthComputable })
  }
  finish(status: number, responseText = '', statusText = '') {
    this.status = status
    this.statusText = statusText
    this.responseText = responseText
    this.onload?.()
  }
}

describe('uploadFile', () => {
  const file = new Blob([new Uint8Array(1000)])

  it('sends the file and reports progress up to the whole size', async () => {
    const seen: [number, number][] = []
    const p = uploadFile(putUpload, file, 'ct.nii.gz', { xhr: () => new FakeXhr(), onProgress: (e) => seen.push([e.loaded, e.total]) })
    const x = FakeXhr.last
    expect(x.method).toBe('PUT')
    expect(x.url).toBe(putUpload.url)
    expect(x.headers).toEqual({ 'Content-Type': 'application/octet-stream' })
    expect(x.body).toBe(file)
    x.progress(250, 1000)
    x.progress(700, 0, false) // no length: the file's size stands in
    x.progress(1000, 1000)
    x.finish(200)
    await expect(p).resolves.toBeUndefined()
    expect(seen).toEqual([
      [250, 1000],
      [700, 1000],
      [1000, 1000],
      [1000, 1000],
    ])
  })

  it('rejects with the storage error message', async () => {
    const p = uploadFile(putUpload, file, 'ct.nii.gz', { xhr: () => new FakeXhr() })
    FakeXhr.last.finish(403, '{"error":{"code":"forbidden","message":"the link has expired; ask for a new one"}}', 'Forbidden')
    await expect(p).rejects.toMatchObject({ status: 403, code: 'forbidden', message: 'the upload failed: the link has expired; ask for a new one' })
  })

  it('sends the signed If-None-Match of an S3 upload link; a second upload is refused as a used link', async () => {
    const s3Put: Upload = {
      method: 'PUT',
      url: 'https://bucket.s3.example/uploads/j1/ct.nii.gz?X-Amz-SignedHeaders=content-length%3Bhost%3Bif-none-match',
      headers: { 'If-None-Match': '*' },
      expiresAt: '2030-01-01T00:00:00Z',
    }
    const first = uploadFile(s3Put, file, 'ct.nii.gz', { xhr: () => new FakeXhr() })
    expect(FakeXhr.last.headers).toEqual({ 'If-None-Match': '*' })
    FakeXhr.last.finish(200)
    await expect(first).resolves.toBeUndefined()
    const second = uploadFile(s3Put, file, 'ct.nii.gz', { xhr: () => new FakeXhr() })
    expect(FakeXhr.last.headers).toEqual({ 'If-None-Match': '*' })
    FakeXhr.last.finish(
      412,
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
      'Precondition Failed',
    )
    await expect(second).rejects.toMatchObject({
      status: 412,
      code: 'PreconditionFailed',
      message: "the upload failed: this job's file was sent already; an upload link is good for one upload",
    })
  })

  it('rejects on a broken connection', async () => {
    const p = uploadFile(putUpload, file, 'ct.nii.gz', { xhr: () => new FakeXhr() })
    FakeXhr.last.progress(100, 1000)
    FakeXhr.last.onerror?.()
    await expect(p).rejects.toMatchObject({ code: 'network' })
  })

  it('aborts when the signal fires', async () => {
    const ctl = new AbortController()
    const p = uploadFile(putUpload, file, 'ct.nii.gz', { xhr: () => new FakeXhr(), signal: ctl.signal })
    ctl.abort()
    await expect(p).rejects.toMatchObject({ code: 'aborted' })
    expect(FakeXhr.last.aborted).toBe(true)
  })

  it('does not start when already aborted', async () => {
    const ctl = new AbortController()
    ctl.abort()
    let made = false
    await expect(
      uploadFile(putUpload, file, 'x', {
        xhr: () => {
          made = true
          return new FakeXhr()
        },
        signal: ctl.signal,
      }),
    ).rejects.toMatchObject({ code: 'aborted' })
    expect(made).toBe(true) // made, but never opened
    expect(FakeXhr.last.method).toBe('')
  })
})

describe('ApiClient signed in', () => {
  function tokens(list: (string | null)[], renew: boolean[]) {
    const log: string[] = []
    return {
      log,
      source: {
        token: async () => list[0] ?? null,
        refused: async (t: string | null) => {
          log.push(`refused ${t}`)
          const ok = renew.shift() ?? false
          if (ok) list.shift()
          return ok
        },
        refusedAgain: () => log.push('refused again'),
      },
    }
  }
  const auth = (c: Call) => (c.init.headers as Record<string, string>).Authorization

  it('sends the bearer token on every call', async () => {
    const f = fakeFetch([json(200, { jobs: [] }), json(200, { id: 'j' })])
    const t = tokens(['tok-1'], [])
    const c = new ApiClient({ fetch: f.fn, auth: t.source })
    await c.listJobs()
    await c.getJob('j')
    expect(f.calls.map(auth)).toEqual(['Bearer tok-1', 'Bearer tok-1'])
  })

  it('renews the token on a 401 and tries once more', async () => {
    const f = fakeFetch([json(401, { error: { code: 'unauthorized', message: 'sign in' } }), json(200, { id: 'j' })])
    const t = tokens(['old', 'new'], [true])
    const c = new ApiClient({ fetch: f.fn, auth: t.source })
    expect((await c.getJob('j')).id).toBe('j')
    expect(f.calls.map(auth)).toEqual(['Bearer old', 'Bearer new'])
    expect(t.log).toEqual(['refused old'])
  })

  it('gives up when the renewed token is refused too', async () => {
    const f = fakeFetch([json(401, { error: { code: 'unauthorized', message: 'sign in' } }), json(401, { error: { code: 'unauthorized', message: 'sign in' } })])
    const t = tokens(['old', 'new'], [true])
    const c = new ApiClient({ fetch: f.fn, auth: t.source })
    await expect(c.getJob('j')).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
    expect(t.log).toEqual(['refused old', 'refused again'])
    expect(f.calls).toHaveLength(2)
  })

  it('does not retry when no new token can be had', async () => {
    const f = fakeFetch([json(401, { error: { code: 'unauthorized', message: 'sign in' } })])
    const t = tokens(['old'], [false])
    const c = new ApiClient({ fetch: f.fn, auth: t.source })
    await expect(c.getJob('j')).rejects.toBeInstanceOf(ApiError)
    expect(f.calls).toHaveLength(1)
  })
})
