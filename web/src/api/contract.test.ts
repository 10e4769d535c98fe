// The mock server (e2e/mock-server.mjs) against the Go API's real responses
// (contract.fixtures.ts, written by internal/api's TestContractFixtures and
// type-checked against ./types by tsc): the same requests must give JSON of
// the same shape, so the mock cannot drift from the API the app talks to.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error: a plain ES module without types
import { startMockServer } from '../../e2e/mock-server.mjs'
import * as go from './contract.fixtures'
import { doneJob } from './contract.fixtures'

// Fields Go leaves out when empty (omitempty): the mock may too.
const OPTIONAL = new Set(['engine', 'fileName', 'displayName', 'system', 'color', 'series', 'headers', 'fields', 'usage', 'instanceType', 'pricesReadOn'])
// Objects whose keys are data, not field names.
const RECORDS = new Set(['stages', 'stageSeconds', 'headers', 'fields'])
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/

/** drift lists where got differs in shape from want (the Go response). */
export function drift(want: unknown, got: unknown, path = '$', record = false): string[] {
  if (want === null || got === null) return want === got ? [] : [`${path}: ${JSON.stringify(got)} where Go has ${JSON.stringify(want)}`]
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return [`${path}: not an array`]
    if (want.length === 0) return got.length === 0 ? [] : [`${path}: items where Go has none`]
    // Each item must have the shape of one of Go's items (a page holds jobs in different states).
    return got.flatMap((g, i) => {
      const tries = want.map((w) => drift(w, g, `${path}[${i}]`))
      return tries.some((t) => t.length === 0) ? [] : tries.reduce((a, b) => (b.length < a.length ? b : a))
    })
  }
  if (typeof want === 'object') {
    if (typeof got !== 'object' || Array.isArray(got)) return [`${path}: not an object`]
    const w = want as Record<string, unknown>
    const g = got as Record<string, unknown>
    if (record) {
      const v = Object.values(w)[0]
      return v === undefined ? [] : Object.entries(g).flatMap(([k, x]) => drift(v, x, `${path}.${k}`))
    }
    const out: string[] = []
    for (const k of Object.keys(w)) if (!(k in g) && !OPTIONAL.has(k)) out.push(`${path}.${k}: missing`)
    for (const k of Object.keys(g)) {
      if (!(k in w)) out.push(`${path}.${k}: not in the Go API`)
      else out.push(...drift(w[k], g[k], `${path}.${k}`, RECORDS.has(k)))
    }
    return out
  }
  if (typeof want !== typeof got) return [`${path}: ${typeof got} where Go has ${typeof want}`]
  if (typeof want === 'string' && ISO.test(want) && !ISO.test(got as string)) return [`${path}: ${JSON.stringify(got)} is not an RFC 3339 time`]
  return []
}

describe('drift', () => {
  it('finds a missing, an extra and a mistyped field', () => {
    expect(drift({ a: 1, b: 'x', t: '2026-01-01T00:00:00Z' }, { a: '1', c: 2, t: 'now' })).toEqual([
      '$.b: missing',
      '$.a: string where Go has number',
      '$.c: not in the Go API',
      '$.t: "now" is not an RFC 3339 time',
    ])
  })
})

describe('mock server against the Go API', () => {
  let mock: { url: string; close: () => Promise<void> }
  const models = mkdtempSync(join(tmpdir(), 'iris-contract-'))
  const call = async (method: string, path: string, body?: unknown, wantStatus = 200) => {
    const res = await fetch(mock.url + path, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    expect(res.status, `${method} ${path}`).toBe(wantStatus)
    return res.json()
  }
  const waitFor = async (id: string, status: string) => {
    for (let i = 0; i < 500; i++) {
      const j = await call('GET', `/api/jobs/${id}`)
      if (j.status === status) return j
      await new Promise((ok) => setTimeout(ok, 10))
    }
    throw new Error(`job ${id} never reached ${status}`)
  }
  const upload = async (u: { url: string; method: string }, data: Uint8Array<ArrayBuffer>) => {
    const res = await fetch(new URL(u.url, mock.url), { method: u.method, body: data })
    expect(res.status).toBe(200)
  }

  beforeAll(async () => {
    // A model set with one organ, as `iris mesh` writes it (the fields the mock reads).
    const o = doneJob.organs[0]
    writeFileSync(
      join(models, 'manifest.json'),
      JSON.stringify({ organs: [{ ...o, voxelVolumeMl: o.volumeMl, partial: false, files: {} }] }),
    )
    writeFileSync(join(models, 'scene.glb'), 'glTF')
    mock = await startMockServer({ meshDir: models, steps: [1, 1, 1, 1] })
  })
  afterAll(async () => mock?.close())

  it('answers every request as the Go API does', async () => {
    const ct = new Uint8Array(readFileSync(resolve(__dirname, '../../../testdata/totalsegmentator-example/ct_3mm.nii.gz')))
    const created = await call('POST', '/api/jobs', { filename: 'ct.nii.gz', bytes: ct.length }, 201)
    expect(drift(go.createJob, created)).toEqual([])
    await upload(created.upload, ct)
    expect(drift(go.doneJob, await waitFor(created.job.id, 'done'))).toEqual([])

    const bad = await call('POST', '/api/jobs', { filename: 'ct.nii.gz', bytes: 16 }, 201)
    await upload(bad.upload, new Uint8Array(16))
    expect(drift(go.failedJob, await waitFor(bad.job.id, 'failed'))).toEqual([])

    expect(drift(go.jobPage, await call('GET', '/api/jobs'))).toEqual([])
    expect(drift(go.notFound, await call('GET', '/api/jobs/nosuchjob', undefined, 404))).toEqual([])
    expect(drift(go.badRequest, await call('POST', '/api/jobs', { filename: 'ct.nii.gz', bytes: -1 }, 400))).toEqual([])
  })
})
