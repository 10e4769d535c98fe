// End-to-end, against a running `iris serve` (web/e2e/serve.sh runs it):
//   1. TotalSegmentator's label map of the example CT, uploaded in the web
//      app, goes straight to meshing and ends done with its organ names;
//   2. the first job view, loaded afresh, transfers under 600 kB of
//      JavaScript, compressed (measured from the network);
//   3. a print pack of three organs with only their largest pieces holds
//      one closed STL per chosen organ, the other pieces dropped.
//
//   IRIS_URL=http://127.0.0.1:8080 node e2e/print.e2e.mjs
//
// Env: E2E_OUT (default e2e/out), CHROMIUM (default /usr/bin/chromium),
// IRIS_SHARED_DATA (default testdata/ at the repository root).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { unzipSync } from 'fflate'
import { launch, tally } from './lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const webDir = resolve(here, '..')
const dataDir = process.env.IRIS_SHARED_DATA ?? resolve(webDir, '../testdata')
const labelMap = join(dataDir, 'totalsegmentator-example', 'ct_3mm_seg.nii.gz')
const out = resolve(process.env.E2E_OUT ?? join(here, 'out'))
const DONE_TIMEOUT = 180_000
const JS_BUDGET = 600_000 // bytes of JavaScript on the wire for the first job view

const t = tally()
const check = t.check

const base = process.env.IRIS_URL?.replace(/\/+$/, '')
if (!base) {
  console.error('set IRIS_URL to a running iris serve (web/e2e/serve.sh does)')
  process.exit(2)
}
if (!existsSync(labelMap)) {
  console.error(`${labelMap} not found: set IRIS_SHARED_DATA to the test data folder`)
  process.exit(1)
}

/**
 * stlShape reads a binary STL: its triangle count, whether it is closed and
 * consistently oriented (every directed edge, vertices matched by exact
 * coordinates, has exactly one opposite), and its connected pieces.
 */
export function stlShape(bytes) {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const n = dv.getUint32(80, true)
  if (bytes.byteLength !== 84 + 50 * n) throw new Error(`STL of ${bytes.byteLength} bytes declares ${n} triangles`)
  const ids = new Map()
  const vid = (o) => {
    const k = `${dv.getFloat32(o, true)},${dv.getFloat32(o + 4, true)},${dv.getFloat32(o + 8, true)}`
    let v = ids.get(k)
    if (v === undefined) ids.set(k, (v = ids.size))
    return v
  }
  const tris = []
  for (let i = 0; i < n; i++) {
    const at = 84 + 50 * i
    tris.push([vid(at + 12), vid(at + 24), vid(at + 36)])
  }
  const edges = new Map()
  for (const t of tris) for (let k = 0; k < 3; k++) edges.set(`${t[k]}>${t[(k + 1) % 3]}`, (edges.get(`${t[k]}>${t[(k + 1) % 3]}`) ?? 0) + 1)
  let closed = n > 0
  for (const [e, m] of edges) {
    const [a, b] = e.split('>')
    if (m !== 1 || edges.get(`${b}>${a}`) !== 1) {
      closed = false
      break
    }
  }
  const parent = Array.from({ length: ids.size }, (_, i) => i)
  const find = (x) => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]]
    return x
  }
  for (const [a, b, c] of tris) {
    parent[find(b)] = find(a)
    parent[find(c)] = find(a)
  }
  const roots = new Set()
  for (const t of tris) roots.add(find(t[0]))
  return { triangles: n, closed, pieces: roots.size }
}

const profiles = [mkdtempSync(join(tmpdir(), 'iris-print-a-')), mkdtempSync(join(tmpdir(), 'iris-print-b-'))]
const work = mkdtempSync(join(tmpdir(), 'iris-print-files-'))
mkdirSync(out, { recursive: true })
let context = await launch(profiles[0], { acceptDownloads: true })
const pageErrors = []
try {
  let page = context.pages()[0] ?? (await context.newPage())
  page.on('pageerror', (e) => pageErrors.push(e.message))

  // 1. The label map through the upload panel.
  await page.goto(base, { waitUntil: 'load' })
  const t0 = Date.now()
  // The stage list while the job runs (the results replace it once done).
  const stageLog = []
  const stagesTimer = setInterval(async () => {
    const now = await page
      .evaluate(() => {
        const items = [...document.querySelectorAll('[data-testid="stages"] [data-stage]')]
        return {
          s: items.map((e) => `${e.dataset.stage}:${e.dataset.state}`).join(' '),
          note: document.querySelector('[data-stage="segmenting"] [data-testid="stage-note"]')?.textContent ?? '',
        }
      })
      .catch(() => null)
    if (now?.s && (stageLog.at(-1)?.s !== now.s || stageLog.at(-1)?.note !== now.note)) stageLog.push(now)
  }, 100)
  await page.setInputFiles('[data-testid="file-input"]', labelMap)
  await page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/, { timeout: 60_000 })
  const jobId = page.url().split('/').pop()
  await page.locator('[data-organ]').first().waitFor({ timeout: DONE_TIMEOUT })
  clearInterval(stagesTimer)
  // Once accepted the job is known to be a label map: segmentation is skipped, not still to come.
  console.log(`     stage list seen: ${stageLog.map((l) => l.s.replace(/(\w+):(\w+)/g, (_, st, state) => `${st.slice(0, 3)}=${state}`)).join(' | ')}`)
  // A label map meshes in well under a second, so the page's poll may go from created straight to the
  // results; the rule itself is pinned by StageTimeline.test.ts. Here: whatever the page showed after
  // acceptance never had segmentation still to come, and the stage list was on screen at all.
  const accepted = stageLog.filter((l) => /accepted:(done|current)/.test(l.s))
  check('the stage list was shown while the label map job ran', stageLog.length > 0, 'the stage list was never seen')
  check('the stage list never showed "Finding the organs" as waiting once the label map was accepted',
    accepted.every((l) => /segmenting:skipped/.test(l.s) && l.note === 'Skipped. No segmentation: label map uploaded.'),
    stageLog.map((l) => `${l.s} [${l.note}]`).join(' | '))
  if (accepted.length === 0) console.log('     (the job finished between two polls: no accepted state was on screen)')
  console.log(`     label map job ${jobId} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  const job = await (await fetch(`${base}/api/jobs/${jobId}`)).json()
  check('the label map job is done', job.status === 'done', `${job.status} ${JSON.stringify(job.error)}`)
  check('it is recorded as a label map, not segmented', job.input?.kind === 'labelmap' && !job.stages.segmenting && /none/.test(job.engine ?? ''),
    `input ${JSON.stringify(job.input)}, stages ${Object.keys(job.stages)}, engine ${job.engine}`)
  const byLabel = new Map(job.organs.map((o) => [o.label, o]))
  const named = [[1, 'spleen'], [5, 'liver'], [7, 'pancreas'], [52, 'aorta'], [117, 'costal_cartilages']]
  check('its organs carry TotalSegmentator\'s names', job.organs.length === 41 && named.every(([l, n]) => byLabel.get(l)?.name === n),
    named.map(([l]) => `${l}=${byLabel.get(l)?.name}`).join(' '))
  for (const [, n] of named) {
    check(`the organ list shows ${n}`, (await page.locator(`[data-organ="${n}"]`).count()) === 1)
  }
  const manifestArt = job.artifacts.find((a) => a.name === 'manifest.json')
  const manifest = await (await fetch(new URL(manifestArt.url, base))).json()
  check('the manifest says no segmentation ran', /^none/.test(manifest.source.segmentation ?? ''), manifest.source.segmentation)
  await context.close()

  // 2. The first job view in a fresh browser: JavaScript on the wire.
  context = await launch(profiles[1], { acceptDownloads: true })
  page = context.pages()[0] ?? (await context.newPage())
  page.on('pageerror', (e) => pageErrors.push(e.message))
  const scripts = []
  page.on('requestfinished', async (req) => {
    if (req.resourceType() !== 'script') return
    const res = await req.response()
    const sizes = await req.sizes()
    const headers = res ? await res.allHeaders() : {}
    const body = res ? await res.body().catch(() => Buffer.alloc(0)) : Buffer.alloc(0)
    scripts.push({ url: req.url(), wire: sizes.responseBodySize, decoded: body.length, encoding: headers['content-encoding'] ?? '', vary: headers.vary ?? '' })
  })
  await page.goto(`${base}/jobs/${jobId}`, { waitUntil: 'load' })
  await page.locator('[data-testid="viewer3d"][data-status="ready"]').waitFor({ timeout: 60_000 })
  await page.waitForLoadState('networkidle')
  const wire = scripts.reduce((s, x) => s + x.wire, 0)
  const decoded = scripts.reduce((s, x) => s + x.decoded, 0)
  for (const s of scripts) console.log(`     ${new URL(s.url).pathname}: ${s.wire} bytes on the wire (${s.encoding || 'identity'}), ${s.decoded} decoded`)
  console.log(`     first job view: ${scripts.length} scripts, ${wire} bytes of JavaScript on the wire, ${decoded} decoded`)
  check(`the first job view transfers under ${JS_BUDGET} bytes of JavaScript`, scripts.length > 0 && wire < JS_BUDGET, `${wire} bytes`)
  check('every script comes compressed, varying by Accept-Encoding',
    scripts.every((s) => (s.encoding === 'br' || s.encoding === 'gzip') && /accept-encoding/i.test(s.vary) && s.wire < s.decoded),
    scripts.filter((s) => !s.encoding).map((s) => s.url).join(', '))
  // The slices too (NiiVue, loaded when they open).
  await page.getByRole('tab', { name: '3D + slices' }).click()
  await page.locator('[data-testid="slices"][data-status="ready"]').waitFor({ timeout: 60_000 })
  await page.waitForLoadState('networkidle')
  const wire2 = scripts.reduce((s, x) => s + x.wire, 0)
  const decoded2 = scripts.reduce((s, x) => s + x.decoded, 0)
  console.log(`     with the slices open: ${scripts.length} scripts, ${wire2} bytes of JavaScript on the wire, ${decoded2} decoded`)
  check(`the job view with the slices open transfers under ${JS_BUDGET} bytes of JavaScript`, wire2 < JS_BUDGET, `${wire2} bytes`)
  const codecs = await fetch(`${base}/`).then((r) => r.text())
  check('no Zarr decoder chunk is referenced', !/blosc|zstd|lz4/.test(codecs) && scripts.every((s) => !/blosc|zstd|lz4/.test(s.url)))

  // 3. A print pack: pancreas (5 pieces), costal cartilages (8) and the
  //    liver (1), largest pieces only.
  const chosen = [7, 117, 5].map((l) => byLabel.get(l))
  const firstSet = {}
  for (const o of chosen) {
    const a = job.artifacts.find((x) => x.name === `stl/${o.name}.stl`)
    firstSet[o.name] = stlShape(new Uint8Array(await (await fetch(new URL(a.url, base))).arrayBuffer()))
  }
  await page.getByRole('tab', { name: 'Downloads' }).click()
  const form = page.getByRole('region', { name: 'Print pack' })
  await form.getByRole('button', { name: 'None', exact: true }).click()
  for (const o of chosen) await form.getByRole('checkbox', { name: o.displayName, exact: true }).check()
  await form.getByRole('radio', { name: /largest piece/ }).check()
  await form.locator('input[type="range"]').fill('0.3')
  await form.getByRole('spinbutton').first().fill('30000')
  await form.getByRole('button', { name: 'Make print pack' }).click()
  const dl = form.getByRole('button', { name: /^Download print pack/ })
  await dl.waitFor({ timeout: DONE_TIMEOUT })
  await page.screenshot({ path: join(out, 'print.png'), fullPage: true })
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), dl.click()])
  const zipPath = join(work, 'print.zip')
  await download.saveAs(zipPath)
  const entries = unzipSync(new Uint8Array(readFileSync(zipPath)))
  const names = Object.keys(entries)
  const want = chosen.map((o) => `${o.displayName}.stl`)
  check('the print pack holds one STL per chosen organ, by display name, and a README',
    names.length === 4 && want.every((w) => names.includes(w)) && names.includes('README.txt'), names.join(', '))
  for (const o of chosen) {
    const s = stlShape(entries[`${o.displayName}.stl`])
    check(`${o.displayName}: closed`, s.closed && s.triangles > 0, JSON.stringify(s))
    check(`${o.displayName}: one piece (the first set's STL has ${firstSet[o.name].pieces})`, s.pieces === 1, `${s.pieces} pieces`)
  }
  check('the pieces were there to drop', firstSet.pancreas.pieces > 1 && firstSet.costal_cartilages.pieces > 1,
    `pancreas ${firstSet.pancreas.pieces}, costal cartilages ${firstSet.costal_cartilages.pieces}`)
  const readme = new TextDecoder().decode(entries['README.txt'])
  check('the README states units, orientation, settings and watertightness',
    /Units: millimetres/.test(readme) && /RAS\+/.test(readme) && /largest piece/.test(readme) && /triangle budget 30000/.test(readme) &&
      want.every((w) => new RegExp(`${w.replace(/[.()]/g, '\\$&')}\\s+\\d+\\s+yes`).test(readme)),
    readme)
  const after = await (await fetch(`${base}/api/jobs/${jobId}`)).json()
  const m2 = await (await fetch(new URL(after.artifacts.find((a) => a.name === 'manifest.json').url, base))).json()
  check('the job\'s first set is unchanged', JSON.stringify(m2) === JSON.stringify(manifest))
  check('the pages raised no error', pageErrors.length === 0, pageErrors.slice(0, 5).join(' | '))
} catch (err) {
  t.fail(err)
  await context.pages()[0]?.screenshot({ path: join(out, 'print-failure.png') }).then(() => console.log(`     screenshot ${join(out, 'print-failure.png')}`), () => {})
} finally {
  await context.close()
  for (const p of profiles) rmSync(p, { recursive: true, force: true })
  rmSync(work, { recursive: true, force: true })
}
process.exit(t.summary('print e2e'))
