// End-to-end: a person uploads the example CT and explores the result, in
// Debian's Chromium driven by playwright-core: anatomy first in 3D (organ
// colours on the canvas, not only skin), radiology basics in the slices,
// an upload the server refuses told in plain words with "Try another
// file", the phone layout at 390×844 (no horizontal scroll, organ list in
// a drawer), and axe-core on every page (zero serious or critical
// violations). Screenshots of each page at 1280×800 and 390×844 go to
// e2e/out/ (landing, progress, 3d, slices, statistics, downloads, error).
//
//   IRIS_URL=http://127.0.0.1:8080 npm run e2e    against a running `iris serve`
//   npm run e2e                                   against e2e/mock-server.mjs (builds web/dist first)
//
// Env: E2E_SCREENSHOT (default e2e/out/viewer.png), CHROMIUM (default /usr/bin/chromium),
// IRIS_SHARED_DATA (default testdata/ at the repository root).

import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { unzipSync, zipSync } from 'fflate'
import { launch, tally } from './lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const webDir = resolve(here, '..')
const dataDir = process.env.IRIS_SHARED_DATA ?? resolve(webDir, '../testdata')
const scan = join(dataDir, 'totalsegmentator-example', 'ct_3mm.nii.gz')
const shot = resolve(process.env.E2E_SCREENSHOT ?? join(here, 'out', 'viewer.png'))
const outDir = dirname(shot)
const axeSource = readFileSync(resolve(webDir, 'node_modules/axe-core/axe.min.js'), 'utf8')
const DESKTOP = { width: 1280, height: 800 }
const PHONE = { width: 390, height: 844 }
// The native engine's envelopes that open hidden (src/state/anatomy.ts), and the small-structure cut.
const OPENS_HIDDEN = new Set(['subcutaneous_fat', 'skeletal_muscle'])
const SMALL_ML = 0.5
const DONE_TIMEOUT = 180_000

const t = tally()
const check = t.check

/** axe runs axe-core in the page and checks for no serious or critical violation. */
async function axe(page, where) {
  // Evaluated through the DevTools protocol: the app's CSP forbids inline scripts.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource)
  const res = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] })
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0]?.target?.join(' ') }))
  })
  const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical')
  check(`axe: no serious or critical violation on ${where}`, bad.length === 0, bad.map((v) => `${v.id} (${v.impact}, ${v.nodes}× e.g. ${v.target})`).join('; '))
  axeRuns.push({ where, violations: res.length, bad: bad.length })
}

/** noOverflow checks that the page does not scroll sideways. */
async function noOverflow(page, where) {
  const w = await page.evaluate(() => ({ doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth }))
  check(`no horizontal scroll on ${where} at ${w.view} px`, w.doc <= w.view && w.body <= w.view, `scrollWidth ${w.doc}/${w.body} > ${w.view}`)
}

/** snap saves a screenshot as e2e/out/<name>-<width>.png. */
async function snap(page, name) {
  const w = page.viewportSize().width
  const path = join(outDir, `${name}-${w}.png`)
  await page.screenshot({ path })
  shots.push(`${name}-${w}.png`)
  return path
}

/** pixels reads a region of a screenshot (page coordinates) as RGBA. */
async function pixels(page, file, box) {
  return page.evaluate(
    async ({ b64, box }) => {
      const img = new Image()
      img.src = `data:image/png;base64,${b64}`
      await img.decode()
      const c = document.createElement('canvas')
      c.width = img.width
      c.height = img.height
      const g = c.getContext('2d')
      g.drawImage(img, 0, 0)
      return Array.from(g.getImageData(Math.round(box.x), Math.round(box.y), Math.round(box.width), Math.round(box.height)).data)
    },
    { b64: readFileSync(file).toString('base64'), box },
  )
}

function hue(r, g, b) {
  const mx = Math.max(r, g, b)
  const mn = Math.min(r, g, b)
  if (mx === mn) return { h: 0, s: 0 }
  const d = mx - mn
  let h = mx === r ? ((g - b) / d) % 6 : mx === g ? (b - r) / d + 2 : (r - g) / d + 4
  h *= 60
  if (h < 0) h += 360
  return { h, s: d / mx }
}

const shots = []
const axeRuns = []

if (!existsSync(scan)) {
  console.error(`${scan} not found: set IRIS_SHARED_DATA to the test data folder`)
  process.exit(1)
}

let mock = null
let base = process.env.IRIS_URL?.replace(/\/+$/, '')
if (!base) {
  console.log('IRIS_URL is not set: building the app and starting e2e/mock-server.mjs')
  execFileSync('npx', ['vite', 'build', '--logLevel', 'warn'], { cwd: webDir, stdio: 'inherit' })
  const { startMockServer } = await import('./mock-server.mjs')
  mock = await startMockServer()
  base = mock.url
}
console.log(`app at ${base}`)
const origin = new URL(base).origin

const profile = mkdtempSync(join(tmpdir(), 'iris-e2e-chromium-'))
const work = mkdtempSync(join(tmpdir(), 'iris-e2e-files-'))
// A fresh profile each run (playwright passes it as --user-data-dir).
const context = await launch(profile, { acceptDownloads: true })

const offsite = []
const pageErrors = []
let jobPosts = 0
try {
  const page = context.pages()[0] ?? (await context.newPage())
  page.on('request', (r) => {
    const u = r.url()
    if (!u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== origin) offsite.push(u)
    if (r.method() === 'POST' && new URL(u).pathname === '/api/jobs') jobPosts++
  })
  page.on('pageerror', (e) => pageErrors.push(e.message))
  page.on('console', (m) => m.type() === 'error' && pageErrors.push(`console: ${m.text()}`))

  await page.goto(base, { waitUntil: 'load' })
  check('home page shows the upload panel', await page.getByRole('heading', { name: 'New scan' }).isVisible())
  check('home page has one h1', (await page.locator('h1').count()) === 1)
  await page.keyboard.press('Tab')
  check('the first Tab stop is a skip link', (await page.evaluate(() => document.activeElement?.textContent)) === 'Skip to content')
  await page.getByText('What you get').click()
  check('the upload page says what each engine makes', await page.getByText(/Native engine .*does not separate individual organs/).isVisible())
  await snap(page, 'landing')
  await axe(page, 'the landing page')
  await page.setViewportSize(PHONE)
  await noOverflow(page, 'the landing page')
  await snap(page, 'landing')
  await axe(page, 'the landing page at 390 px')
  await page.setViewportSize(DESKTOP)

  // A wrong file is refused in the browser, before any job is made.
  const bogus = join(work, 'notes.nii.gz')
  writeFileSync(bogus, 'this is not a scan, just text '.repeat(40))
  await page.setInputFiles('[data-testid="file-input"]', bogus)
  const alert = page.getByRole('alert').filter({ hasText: 'not a gzip file' })
  await alert.waitFor({ timeout: 10_000 })
  check('a wrong file is refused with the reason', await alert.isVisible())
  check('no job is created for a wrong file', jobPosts === 0, `${jobPosts} POST /api/jobs`)
  await page.getByRole('button', { name: 'Dismiss' }).click()

  // The real scan: upload, follow, done.
  const t0 = Date.now()
  await page.setInputFiles('[data-testid="file-input"]', scan)
  await page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/, { timeout: 60_000 })
  const jobId = page.url().split('/').pop()
  check('the upload creates a job and opens its page', jobPosts === 1 && !!jobId, page.url())
  await page.locator('[data-testid="stages"]').waitFor({ timeout: 30_000 }).catch(() => {})
  await page.locator('h1').filter({ hasText: 'ct_3mm.nii.gz' }).waitFor({ timeout: 10_000 })
  const progressTitle = await page.title()
  await snap(page, 'progress')
  check('the tab title shows the job status and file', /^(Uploading|Checking|Finding organs|Making models|Done) · ct_3mm\.nii\.gz — IRIS Oculus$/.test(progressTitle), progressTitle)
  await axe(page, 'the job page in progress')
  await page.locator('[data-organ]').first().waitFor({ timeout: DONE_TIMEOUT })
  check('the tab title says done', (await page.title()).startsWith('Done · ct_3mm.nii.gz'), await page.title())
  console.log(`     job ${jobId} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)

  // The manifest the server made, read as any client would.
  const job = await (await fetch(`${base}/api/jobs/${jobId}`)).json()
  check('the job is done', job.status === 'done', job.status)
  if (!mock) {
    // The app polls a job with its last ETag in If-None-Match and cache
    // no-store (src/api/client.ts); that works only if the browser hands
    // the 304 to the page instead of answering from, or storing in, its
    // own cache.
    const cond = await page.evaluate(async (path) => {
      const first = await fetch(path, { cache: 'no-store' })
      const etag = first.headers.get('ETag')
      const again = await fetch(path, { cache: 'no-store', headers: { 'If-None-Match': etag ?? '' } })
      return { etag, status: again.status, body: (await again.text()).length }
    }, `/api/jobs/${jobId}`)
    check('an unchanged job polled with its ETag comes back 304 with no body, in the browser', !!cond.etag && cond.status === 304 && cond.body === 0, JSON.stringify(cond))
  }
  const manifestArt = job.artifacts.find((a) => a.name === 'manifest.json')
  const manifest = await (await fetch(new URL(manifestArt.url, base))).json()
  const n = manifest.organs.length
  const small = manifest.organs.filter((o) => o.voxelVolumeMl < SMALL_ML)
  const rows = await page.locator('[data-organ]').count()
  check(`the organ list holds the manifest's ${n} organs less ${small.length} under ${SMALL_ML} mL`, rows === n - small.length && n > 0, `${rows} rows`)
  if (small.length > 0) check('the list says how many small structures it hides', (await page.getByTestId('small-toggle').textContent()).startsWith(`${small.length} structure`))
  const tabbable = await page.locator('[data-testid="organ-list"] [data-organ] [tabindex="0"], [data-testid="organ-list"] [data-organ] input:not([tabindex="-1"])').count()
  check('the organ list is one Tab stop (roving tabindex)', tabbable === 1, `${tabbable} tabbable in the rows`)
  const names = await page.locator('[data-organ] [data-role="name"]').allTextContents()
  const ribs = names.map((t) => /rib (\d+)/i.exec(t)?.[1]).filter(Boolean).map(Number)
  check('numbered structures are in natural order', ribs.every((v, i) => i === 0 || v >= ribs[i - 1] || v === 1), ribs.join(','))

  const viewer = page.locator('[data-testid="viewer3d"]')
  await page.locator('[data-testid="viewer3d"][data-status="ready"]').waitFor({ timeout: 60_000 })
  const opensShown = manifest.organs.filter((o) => !OPENS_HIDDEN.has(o.name) && o.voxelVolumeMl >= SMALL_ML).length
  check('the 3D view has one mesh per organ', (await viewer.getAttribute('data-meshes')) === String(n), await viewer.getAttribute('data-meshes'))
  check('anatomy first: fat, muscle and specks open hidden, the rest shown', (await viewer.getAttribute('data-visible')) === String(opensShown), `${await viewer.getAttribute('data-visible')} of ${opensShown}`)

  // The default view shows the organs inside, in their colours: at least
  // two structures other than the body each cover 1 % of the view.
  await page.waitForTimeout(300)
  const first3d = await snap(page, '3d')
  const vbox = await viewer.boundingBox()
  const colours = await page.evaluate(() =>
    Array.from(document.querySelectorAll('[data-organ][data-visible="true"]')).map((r) => ({
      name: r.getAttribute('data-organ'),
      color: getComputedStyle(r.querySelector('span[aria-hidden]')).backgroundColor,
    })),
  )
  const px = await pixels(page, first3d, vbox)
  const organHues = colours
    .filter((c) => c.name !== 'body')
    .map((c) => {
      const [r, g, b] = c.color.match(/\d+/g).map(Number)
      return { name: c.name, ...hue(r, g, b) }
    })
    .filter((c) => c.s > 0.15)
  const cover = Object.fromEntries(organHues.map((c) => [c.name, 0]))
  for (let i = 0; i < px.length; i += 4) {
    const p = hue(px[i], px[i + 1], px[i + 2])
    if (p.s < 0.15 || Math.max(px[i], px[i + 1], px[i + 2]) < 60) continue
    let best = null
    let bd = 12
    for (const c of organHues) {
      const d = Math.min(Math.abs(c.h - p.h), 360 - Math.abs(c.h - p.h))
      if (d < bd) [best, bd] = [c.name, d]
    }
    if (best) cover[best]++
  }
  const total = px.length / 4
  const seen = Object.entries(cover).filter(([, c]) => c / total > 0.01)
  check(
    'the default 3D view shows organ colours, not only skin',
    seen.length >= 2,
    Object.entries(cover).map(([k, c]) => `${k} ${((100 * c) / total).toFixed(1)}%`).join(', '),
  )
  console.log(`     organ colours in the 3D view: ${seen.map(([k, c]) => `${k} ${((100 * c) / total).toFixed(1)}%`).join(', ')}`)
  // The orientation cube's faces in the bottom-right corner.
  const cube = await pixels(page, first3d, { x: vbox.x + vbox.width - 84, y: vbox.y + vbox.height - 84, width: 80, height: 80 })
  let faces = 0
  for (let i = 0; i < cube.length; i += 4) {
    const [r, g, b] = [cube[i], cube[i + 1], cube[i + 2]]
    if ((Math.abs(r - 0x7f) < 25 && g < 60 && b < 60) || (r < 60 && g < 80 && Math.abs(b - 0x8a) < 30) || (r < 50 && Math.abs(g - 0x53) < 25 && b < 80)) faces++
  }
  check('an orientation cube is drawn in the corner', faces > 300, `${faces} face pixels`)
  const bar = page.getByTestId('scale-bar')
  check('a scale bar shows a round length', (await bar.isVisible()) && Number(await bar.getAttribute('data-mm')) > 0, await bar.getAttribute('data-mm'))
  check("view buttons are named from the patient's side", (await page.getByRole('button', { name: "Patient's left", exact: true }).count()) === 1)
  await page.mouse.move(vbox.x + vbox.width / 2, vbox.y + vbox.height / 2)
  const tip = page.getByRole('tooltip')
  await tip.waitFor({ timeout: 5000 }).catch(() => {})
  const tipText = (await tip.count()) ? await tip.textContent() : ''
  check('the hover card gives the size in mm', /\d+ × \d+ × \d+ mm/.test(tipText), tipText)
  await axe(page, 'the 3D view')

  // Toggle one organ off.
  const first = manifest.organs.find((o) => !OPENS_HIDDEN.has(o.name) && o.voxelVolumeMl >= SMALL_ML)
  const box = page.getByRole('checkbox', { name: `Show ${first.displayName}`, exact: true })
  await box.uncheck()
  check(`hiding ${first.displayName} unchecks it`, !(await box.isChecked()))
  check('its row says hidden', (await page.locator(`[data-organ="${first.name}"]`).getAttribute('data-visible')) === 'false')
  check('the 3D view hides its mesh', (await viewer.getAttribute('data-visible')) === String(opensShown - 1), await viewer.getAttribute('data-visible'))
  check('the count says so', (await page.getByTestId('organ-count').textContent())?.trim() === `${opensShown - 1} of ${n} shown`)
  await box.check()
  // Selecting an organ outlines it.
  await page.locator(`[data-organ="${first.name}"] [data-role="name"]`).click()
  await page.waitForFunction((name) => document.querySelector('[data-testid="viewer3d"]')?.getAttribute('data-outlined') === name, first.name, { timeout: 5000 }).catch(() => {})
  check('the selected organ is outlined in 3D', (await viewer.getAttribute('data-outlined')) === first.name, await viewer.getAttribute('data-outlined'))
  // The outline is drawn: bright yellow (#fde047) pixels that were not there before.
  const rim = async (file) => {
    const p = await pixels(page, file, vbox)
    let k = 0
    for (let i = 0; i < p.length; i += 4) {
      const c = hue(p[i], p[i + 1], p[i + 2])
      if (c.s > 0.6 && c.h > 45 && c.h < 57 && p[i] > 200) k++
    }
    return k
  }
  await page.waitForTimeout(300)
  const rimBefore = await rim(first3d)
  const rimAfter = await rim(await snap(page, '3d-selected'))
  check('the outline shows on the canvas', rimAfter > rimBefore + 200, `${rimBefore} → ${rimAfter} outline pixels`)
  await page.locator(`[data-organ="${first.name}"] [data-role="name"]`).click()

  // Views and the screenshot of the whole page at 1280×800.
  await page.getByRole('button', { name: 'Front', exact: true }).click()
  await page.waitForTimeout(300)
  mkdirSync(dirname(shot), { recursive: true })
  await page.screenshot({ path: shot })
  const size = statSync(shot).size
  check('the screenshot is larger than 20 KB', size > 20 * 1024, `${size} bytes`)
  // Pixels of the 3D view that differ from its background: the organs.
  const stats = await page.evaluate(async (b64) => {
    const img = new Image()
    img.src = `data:image/png;base64,${b64}`
    await img.decode()
    const c = document.createElement('canvas')
    c.width = img.width
    c.height = img.height
    const g = c.getContext('2d')
    g.drawImage(img, 0, 0)
    const el = document.querySelector('[data-testid="viewer3d"]').getBoundingClientRect()
    const d = g.getImageData(Math.round(el.left), Math.round(el.top), Math.round(el.width), Math.round(el.height)).data
    const all = g.getImageData(0, 0, c.width, c.height).data
    const colours = new Set()
    for (let i = 0; i < all.length; i += 4 * 7) colours.add((all[i] << 16) | (all[i + 1] << 8) | all[i + 2])
    const bg = [d[0], d[1], d[2]]
    let lit = 0
    for (let i = 0; i < d.length; i += 4) {
      if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) > 30) lit++
    }
    return { colours: colours.size, lit: lit / (d.length / 4) }
  }, readFileSync(shot).toString('base64'))
  check('the screenshot is not a single colour', stats.colours > 50, `${stats.colours} colours`)
  check('the organs cover part of the 3D view', stats.lit > 0.03, `${(stats.lit * 100).toFixed(1)}% of its pixels`)
  console.log(`     screenshot ${shot} (${size} bytes, ${stats.colours} colours, organs on ${(stats.lit * 100).toFixed(1)}% of the view)`)

  // Slices: NiiVue loads lazily, with the CT when the job has it.
  await page.getByRole('tab', { name: '3D + slices' }).click()
  await page.locator('[data-testid="slices"][data-status="ready"]').waitFor({ timeout: 60_000 })
  check('the slices load', true)
  const slices = await page.locator('[data-testid="slices"]').boundingBox()
  // Click the middle of the axial tile (top-left in the multiplanar layout).
  await page.mouse.click(slices.x + slices.width * 0.25, slices.y + slices.height * 0.25)
  await page.waitForTimeout(300)
  const under = await page.getByText(/^Under the cursor:/).textContent()
  check('a click on a slice names what is under it', /Under the cursor: \S/.test(under ?? ''), under ?? '')
  const sliceIndex = await page.getByTestId('slice-index').textContent()
  check('the slice number shows', /Axial \d+ of \d+/.test(sliceIndex), sliceIndex)
  await page.mouse.move(slices.x + slices.width * 0.27, slices.y + slices.height * 0.27)
  await page.waitForFunction(() => /HU/.test(document.querySelector('[data-testid="readout"]')?.textContent ?? ''), null, { timeout: 5000 }).catch(() => {})
  const readout = await page.getByTestId('readout').textContent()
  check('HU and patient mm show under the pointer', /^-?\d+ HU · [RL] \d+\.\d [AP] \d+\.\d [SI] \d+\.\d mm/.test(readout), readout)
  const win = page.getByTestId('window')
  check('the slices open in the soft-tissue window', (await win.getAttribute('data-window')) === '-160,240', await win.getAttribute('data-window'))
  await page.getByRole('button', { name: 'Lung', exact: true }).click()
  check('the lung preset sets W1500 L-600', (await win.getAttribute('data-window')) === '-1350,150', await win.getAttribute('data-window'))
  // Right-drag adjusts the window (NiiVue's windowing drag).
  const cx = slices.x + slices.width * 0.25
  const cy = slices.y + slices.height * 0.25
  await page.mouse.move(cx, cy)
  await page.mouse.down({ button: 'right' })
  for (let i = 1; i <= 5; i++) await page.mouse.move(cx + i * 12, cy + i * 8)
  await page.mouse.up({ button: 'right' })
  await page.waitForTimeout(200)
  check('a right-drag changes the window', (await win.getAttribute('data-window')) !== '-1350,150', await win.getAttribute('data-window'))
  await page.getByRole('button', { name: 'Soft tissue', exact: true }).click()
  await page.getByRole('tab', { name: 'Slices', exact: true }).click()
  await page.waitForTimeout(300)
  const slicesShot = await snap(page, 'slices')
  await axe(page, 'the slices')
  // The crosshair is 1 px: the widest run of its yellow down one column of the axial view.
  const sbox = await page.locator('[data-testid="slices"]').boundingBox()
  const col = await pixels(page, slicesShot, { x: sbox.x + sbox.width * 0.05, y: sbox.y, width: 1, height: sbox.height })
  let run = 0
  let widest = 0
  for (let i = 0; i < col.length; i += 4) {
    const yellow = col[i] > 200 && col[i + 1] > 150 && col[i + 2] < 90
    run = yellow ? run + 1 : 0
    widest = Math.max(widest, run)
  }
  check('the crosshair is a 1 px line', widest >= 1 && widest <= 2, `${widest} px`)

  // Statistics and downloads.
  await page.getByRole('tab', { name: 'Statistics' }).click()
  check('the statistics table has a row per organ', (await page.locator('[data-testid="stats-table"] tbody tr').count()) === n)
  const sizeCell = await page.locator('[data-testid="stats-table"] tbody tr').first().locator('td').nth(5).textContent()
  check('the statistics give each size in mm', /^\d+ × \d+ × \d+$/.test(sizeCell ?? ''), sizeCell)
  await snap(page, 'statistics')
  await axe(page, 'the statistics')
  await page.getByRole('tab', { name: 'Downloads' }).click()
  await snap(page, 'downloads')
  await axe(page, 'the downloads')
  const stlCount = job.artifacts.filter((a) => a.name.startsWith('stl/')).length
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: /^All \d+ as zip/ }).click()])
  const zipPath = join(work, 'stl.zip')
  await download.saveAs(zipPath)
  const entries = Object.keys(unzipSync(new Uint8Array(readFileSync(zipPath))))
  check(`the STL zip holds the ${stlCount} STL files`, entries.length === stlCount && entries.every((e) => e.startsWith('stl/')), `${entries.length} entries`)

  // A file the browser accepts but the server refuses: a zip with no DICOM in it.
  const notDicom = join(work, 'holiday photos.zip')
  writeFileSync(notDicom, zipSync({ 'readme.txt': new TextEncoder().encode('no images here\n'.repeat(20)) }))
  await page.goto(base, { waitUntil: 'load' })
  await page.setInputFiles('[data-testid="file-input"]', notDicom)
  await page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/, { timeout: 60_000 })
  const failure = page.getByTestId('job-error')
  await failure.waitFor({ timeout: 60_000 })
  const plain = await page.getByTestId('job-error-plain').textContent()
  check('a failed job keeps the uploaded file name', (await page.locator('h1').textContent()) === 'holiday_photos.zip', await page.locator('h1').textContent())
  check('the failure is one plain sentence', /^[A-Z][^.]*\.$/.test(plain) && !/_/.test(plain), plain)
  const details = page.getByTestId('job-error-details')
  check('the details are behind a disclosure', !(await details.evaluate((d) => d.open)))
  await details.locator('summary').click()
  check('the details hold the server message and code', /no_dicom|no DICOM/i.test(await details.textContent()), await details.textContent())
  check('the tab title says failed', (await page.title()).startsWith('Failed · holiday_photos.zip'), await page.title())
  check('a failed job offers to try another file', await page.getByRole('button', { name: 'Try another file' }).isVisible())
  await snap(page, 'error')
  await axe(page, 'the failed job')
  await page.setViewportSize(PHONE)
  await noOverflow(page, 'the failed job')
  await snap(page, 'error')
  await axe(page, 'the failed job at 390 px')

  // The phone: try another file (the real scan) from the error page and explore it at 390×844.
  await page.setInputFiles('[data-testid="retry-file-input"]', scan)
  await page.locator('h1').filter({ hasText: 'ct_3mm.nii.gz' }).waitFor({ timeout: 60_000 })
  check('"Try another file" uploads it as a new job', jobPosts === 3, `${jobPosts} POST /api/jobs`)
  await snap(page, 'progress')
  await noOverflow(page, 'the job in progress')
  await page.locator('[data-testid="viewer3d"][data-status="ready"]').waitFor({ timeout: DONE_TIMEOUT })
  await page.waitForTimeout(300)
  check('on a phone the organ list starts in a closed drawer', !(await page.locator('#organ-drawer').isVisible()))
  check('on a phone the camera buttons are in a menu', await page.getByTestId('camera-menu').isVisible())
  await noOverflow(page, 'the 3D view')
  await snap(page, '3d')
  await axe(page, 'the 3D view at 390 px')
  await page.getByTestId('organs-button').click()
  const drawer = page.locator('#organ-drawer')
  const dbox = await drawer.boundingBox()
  check('the Organs button opens the list in a drawer within the screen', (await drawer.isVisible()) && dbox.width <= PHONE.width, JSON.stringify(dbox))
  await noOverflow(page, 'the organ drawer')
  await snap(page, 'organs')
  await axe(page, 'the organ drawer at 390 px')
  await page.keyboard.press('Escape')
  for (const [view, name] of [['slices', 'slices'], ['stats', 'statistics'], ['downloads', 'downloads']]) {
    await page.getByTestId('view-menu').selectOption(view)
    if (view === 'slices') await page.locator('[data-testid="slices"][data-status="ready"]').waitFor({ timeout: 60_000 })
    await page.waitForTimeout(300)
    await noOverflow(page, `the ${name}`)
    await snap(page, name)
    await axe(page, `the ${name} at 390 px`)
  }
  console.log(`     screenshots in ${outDir}: ${shots.join(', ')}`)
  console.log(`     axe runs: ${axeRuns.map((r) => `${r.where}: ${r.bad} serious/critical of ${r.violations}`).join('; ')}`)

  check('the page made no request outside its origin', offsite.length === 0, offsite.slice(0, 5).join(', '))
  check('the page raised no error', pageErrors.length === 0, pageErrors.slice(0, 5).join(' | '))
} catch (err) {
  t.fail(err)
  // What the page showed when it failed (kept by the test workflow).
  const failShot = shot.replace(/\.png$/, '-failure.png')
  mkdirSync(dirname(failShot), { recursive: true })
  await context.pages()[0]?.screenshot({ path: failShot }).then(() => console.log(`     screenshot ${failShot}`), () => {})
} finally {
  await context.close()
  await mock?.close()
  rmSync(profile, { recursive: true, force: true })
  rmSync(work, { recursive: true, force: true })
}
process.exit(t.summary('e2e'))
