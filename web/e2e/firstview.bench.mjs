// The web app's first job view, measured (bench/serve/firstview.sh runs
// it against a running `iris serve`, from bench/run.sh): for a finished
// job, in a fresh browser profile each round (nothing cached),
//   - JavaScript over the wire: the bytes of every script response body as
//     transferred (compressed) until the network is idle with the 3D view
//     ready, as e2e/print.e2e.mjs counts them;
//   - time to the first drawn organ: from the navigation start of
//     /jobs/{id} (performance.timeOrigin) to the first animation frame at
//     which the 3D view's canvas holds an organ: the view reports ready
//     with its meshes loaded, and at least 1 % of the canvas's middle
//     (the orientation cube's corner left out) differs from the empty
//     background. It is checked every frame from the page's first script
//     on, so it is late by at most one frame.
// The job is TotalSegmentator's label map of the example CT (41 organs),
// uploaded through the API first, unless JOB_ID names a finished one.
//
//   IRIS_URL=http://127.0.0.1:8080 node e2e/firstview.bench.mjs
//
// Env: ROUNDS (default 3), JOB_ID, CHROMIUM (default /usr/bin/chromium),
// IRIS_SHARED_DATA (default testdata/ at the repository root).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { launch } from './lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const dataDir = process.env.IRIS_SHARED_DATA ?? resolve(here, '../../testdata')
const labelMap = join(dataDir, 'totalsegmentator-example', 'ct_3mm_seg.nii.gz')
const rounds = Number(process.env.ROUNDS ?? 3)
const JS_BUDGET = 600_000
const base = process.env.IRIS_URL?.replace(/\/+$/, '')
if (!base || !(rounds >= 1)) {
  console.error('set IRIS_URL to a running iris serve (and ROUNDS ≥ 1)')
  process.exit(2)
}

async function api(method, url, body, headers = {}) {
  const res = await fetch(new URL(url, base), { method, body, headers })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`)
  return text ? JSON.parse(text) : null
}

async function finishedJob() {
  if (process.env.JOB_ID) return process.env.JOB_ID
  const scan = readFileSync(labelMap)
  const { job, upload } = await api('POST', '/api/jobs', JSON.stringify({ filename: basename(labelMap), bytes: scan.length }), {
    'Content-Type': 'application/json',
  })
  const h = Object.fromEntries(Object.entries(upload.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'content-length'))
  await api(upload.method, upload.url, scan, h)
  const deadline = Date.now() + 300_000
  for (;;) {
    const v = await api('GET', `/api/jobs/${job.id}`)
    if (v.status === 'done') return job.id
    if (v.status === 'failed') throw new Error(`job ${job.id} failed: ${JSON.stringify(v.error)}`)
    if (Date.now() > deadline) throw new Error(`job ${job.id} still ${v.status} after 300 s`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

// Runs in the page before its own scripts: watches every frame for the
// first one with an organ on the 3D view's canvas.
function watchFirstOrgan() {
  const probe = document.createElement('canvas')
  probe.width = 64
  probe.height = 40
  const frame = () => {
    const view = document.querySelector('[data-testid="viewer3d"]')
    const gl = view?.querySelector('canvas')
    if (view?.dataset.status === 'ready' && Number(view.dataset.meshes) > 0 && gl && gl.width > 0) {
      const ctx = probe.getContext('2d', { willReadFrequently: true })
      ctx.drawImage(gl, 0, 0, probe.width, probe.height)
      const px = ctx.getImageData(0, 0, probe.width, probe.height).data
      const bg = [px[0], px[1], px[2]] // the top-left corner: empty background
      let drawn = 0
      let seen = 0
      // The middle 60 % of each axis: the orientation cube sits in a corner.
      for (let y = 8; y < 32; y++) {
        for (let x = 13; x < 51; x++) {
          const i = 4 * (y * probe.width + x)
          seen++
          if (Math.abs(px[i] - bg[0]) + Math.abs(px[i + 1] - bg[1]) + Math.abs(px[i + 2] - bg[2]) > 24) drawn++
        }
      }
      if (drawn >= 0.01 * seen) {
        window.__firstOrgan = { ms: performance.now(), drawnFraction: drawn / seen, meshes: Number(view.dataset.meshes) }
        return
      }
    }
    requestAnimationFrame(frame)
  }
  requestAnimationFrame(frame)
}

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const spread = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return { med: s[Math.floor((s.length - 1) / 2)], lo: s[0], hi: s.at(-1) }
}

let failed = false
const jobId = await finishedJob()
console.log(`job ${jobId} (TotalSegmentator's label map of the example CT); ${rounds} rounds, each a fresh browser profile; load average ${load()}`)
const wires = []
const firsts = []
for (let r = 1; r <= rounds; r++) {
  const profile = mkdtempSync(join(tmpdir(), 'iris-firstview-'))
  const context = await launch(profile)
  try {
    const page = context.pages()[0] ?? (await context.newPage())
    const errors = []
    page.on('pageerror', (e) => errors.push(e.message))
    await page.addInitScript(watchFirstOrgan)
    const scripts = []
    page.on('requestfinished', async (req) => {
      if (req.resourceType() !== 'script') return
      scripts.push((await req.sizes()).responseBodySize)
    })
    await page.goto(`${base}/jobs/${jobId}`, { waitUntil: 'load' })
    const first = await page.waitForFunction(() => window.__firstOrgan, null, { timeout: 120_000, polling: 100 }).then((h) => h.jsonValue())
    await page.waitForLoadState('networkidle')
    const wire = scripts.reduce((s, x) => s + x, 0)
    wires.push(wire)
    firsts.push(first.ms)
    console.log(`  round ${r}: first drawn organ at ${first.ms.toFixed(0)} ms after navigation start (${first.meshes} meshes, ${(100 * first.drawnFraction).toFixed(0)} % of the view's middle drawn); ` +
      `${scripts.length} scripts, ${wire} bytes of JavaScript on the wire; load average ${load()}`)
    if (errors.length) {
      failed = true
      console.log(`  FAIL the page raised: ${errors.slice(0, 3).join(' | ')}`)
    }
  } finally {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  }
}
const w = spread(wires)
const f = spread(firsts)
console.log(`JavaScript over the wire, first job view: median ${(w.med / 1000).toFixed(1)} kB (range ${(w.lo / 1000).toFixed(1)}–${(w.hi / 1000).toFixed(1)} kB), ` +
  `target < ${JS_BUDGET / 1000} kB: ${w.hi < JS_BUDGET ? 'met in every round' : w.med < JS_BUDGET ? 'met in the median only' : 'NOT met'}`)
console.log(`time to the first drawn organ (navigation start → first frame with an organ on the canvas): median ${f.med.toFixed(0)} ms (range ${f.lo.toFixed(0)}–${f.hi.toFixed(0)} ms)`)
if (w.med >= JS_BUDGET) failed = true
process.exit(failed ? 1 : 0)
