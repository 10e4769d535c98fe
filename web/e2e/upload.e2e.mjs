// End-to-end: a person uploads the example CT and explores the result, in
// Debian's Chromium driven by playwright-core.
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
import { unzipSync } from 'fflate'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const webDir = resolve(here, '..')
const dataDir = process.env.IRIS_SHARED_DATA ?? resolve(webDir, '../testdata')
const scan = join(dataDir, 'totalsegmentator-example', 'ct_3mm.nii.gz')
const shot = resolve(process.env.E2E_SCREENSHOT ?? join(here, 'out', 'viewer.png'))
const DONE_TIMEOUT = 180_000

let passed = 0
let failed = 0
function check(name, ok, detail = '') {
  if (ok) {
    passed++
    console.log(`ok   ${name}`)
  } else {
    failed++
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`)
  }
}

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
const context = await chromium.launchPersistentContext(profile, {
  viewport: { width: 1280, height: 800 },
  acceptDownloads: true,
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    // WebGL without a GPU: SwiftShader, so three.js and NiiVue draw.
    '--use-angle=swiftshader',
    '--enable-unsafe-swiftshader',
  ],
})

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
  await page.locator('[data-organ]').first().waitFor({ timeout: DONE_TIMEOUT })
  console.log(`     job ${jobId} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`)

  // The manifest the server made, read as any client would.
  const job = await (await fetch(`${base}/api/jobs/${jobId}`)).json()
  check('the job is done', job.status === 'done', job.status)
  const manifestArt = job.artifacts.find((a) => a.name === 'manifest.json')
  const manifest = await (await fetch(new URL(manifestArt.url, base))).json()
  const n = manifest.organs.length
  const rows = await page.locator('[data-organ]').count()
  check(`the organ list holds the manifest's ${n} organs`, rows === n && n > 0, `${rows} rows`)

  const viewer = page.locator('[data-testid="viewer3d"]')
  await page.locator('[data-testid="viewer3d"][data-status="ready"]').waitFor({ timeout: 60_000 })
  check('the 3D view has one mesh per organ', (await viewer.getAttribute('data-meshes')) === String(n), await viewer.getAttribute('data-meshes'))
  check('every mesh starts visible', (await viewer.getAttribute('data-visible')) === String(n))

  // Toggle one organ off.
  const first = manifest.organs[0]
  const box = page.getByRole('checkbox', { name: `Show ${first.displayName}`, exact: true })
  await box.uncheck()
  check(`hiding ${first.displayName} unchecks it`, !(await box.isChecked()))
  check('its row says hidden', (await page.locator(`[data-organ="${first.name}"]`).getAttribute('data-visible')) === 'false')
  check('the 3D view hides its mesh', (await viewer.getAttribute('data-visible')) === String(n - 1), await viewer.getAttribute('data-visible'))
  check('the count says so', (await page.getByTestId('organ-count').textContent())?.trim() === `${n - 1} of ${n} shown`)

  // Views and the screenshot of the whole page at 1280×800.
  await page.getByRole('button', { name: 'Anterior', exact: true }).click()
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
  await page.screenshot({ path: shot.replace(/\.png$/, '-slices.png') })

  // Statistics and downloads.
  await page.getByRole('tab', { name: 'Statistics' }).click()
  check('the statistics table has a row per organ', (await page.locator('[data-testid="stats-table"] tbody tr').count()) === n)
  await page.getByRole('tab', { name: 'Downloads' }).click()
  const stlCount = job.artifacts.filter((a) => a.name.startsWith('stl/')).length
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: /^All \d+ as zip/ }).click()])
  const zipPath = join(work, 'stl.zip')
  await download.saveAs(zipPath)
  const entries = Object.keys(unzipSync(new Uint8Array(readFileSync(zipPath))))
  check(`the STL zip holds the ${stlCount} STL files`, entries.length === stlCount && entries.every((e) => e.startsWith('stl/')), `${entries.length} entries`)

  check('the page made no request outside its origin', offsite.length === 0, offsite.slice(0, 5).join(', '))
  check('the page raised no error', pageErrors.length === 0, pageErrors.slice(0, 5).join(' | '))
} catch (err) {
  failed++
  console.log(`FAIL ${err instanceof Error ? err.stack : String(err)}`)
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
console.log(`e2e: ${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
