// End-to-end on the emulated AWS deployment (scenario 1 of issue 10): the
// web app as the stack deploys it (CloudFront and the site bucket, with
// the stack's config.json), the HTTP API with its JWT authorizer, S3
// presigned URLs, the whole event flow, and a real OpenID Connect provider
// on loopback, in Debian's Chromium. Nothing here mints a token: every
// one comes from the provider through the browser's code + PKCE flow.
//
// Started by the Go test cloudlocal.TestCloudLocalBrowser (go test
// ./cloudlocal/ -run Browser), which brings the deployment up and passes:
//   SITE_URL     the site's origin (https, the emulators' self-signed certificate)
//   API_URL      the HTTP API, S3_URL the S3 emulator, OIDC_ISSUER the provider
//   CERT_PINS    base64 SHA-256 of the certificates' public keys, which
//                Chromium trusts by --ignore-certificate-errors-spki-list
//   E2E_USERS    JSON [{name, password, sub}]: two users, the first uploads
//   IRIS_SCAN    the 3 mm CT; CHROMIUM; E2E_OUT (screenshots on failure)
//
// It prints `ok`/`FAIL` lines, `figure:` lines, and last one line
// `RESULT {json}` for the Go test.

import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { launch, tally } from './lib.mjs'

const env = (k) => {
  const v = process.env[k]
  if (!v) {
    console.log(`FAIL ${k} is not set: run this through go test ./cloudlocal/ -run Browser`)
    process.exit(1)
  }
  return v
}
const site = env('SITE_URL')
const apiUrl = env('API_URL')
const s3Origin = new URL(env('S3_URL')).origin
const issuer = env('OIDC_ISSUER')
const pins = env('CERT_PINS')
const scan = env('IRIS_SCAN')
const [alice, bob] = JSON.parse(env('E2E_USERS'))
const outDir = process.env.E2E_OUT ?? join(tmpdir(), 'iris-cloud-e2e')
const DONE_TIMEOUT = 6 * 60_000
const OVERALL = 8.5 * 60_000

const overall = setTimeout(() => {
  console.log(`FAIL the cloud e2e ran past ${OVERALL / 60000} min`)
  process.exit(1)
}, OVERALL)
overall.unref()

const t = tally()
const check = t.check
const figure = (s) => console.log(`figure: ${s}`)
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`

const work = mkdtempSync(join(tmpdir(), 'iris-cloud-e2e-'))
const contexts = []
async function browser(name) {
  const context = await launch(mkdtempSync(join(work, `chromium-${name}-`)), {
    acceptDownloads: true,
    // The site and S3 serve the emulators' self-signed certificate:
    // trusted by its key, and nothing else is.
    args: [`--ignore-certificate-errors-spki-list=${pins}`],
  })
  contexts.push(context)
  const page = context.pages()[0] ?? (await context.newPage())
  const seen = { api: [], puts: [], offsite: [], errors: [], statuses: [] }
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (u.origin === new URL(apiUrl).origin) seen.api.push({ method: r.method(), path: u.pathname, auth: r.headers().authorization ?? '' })
    if (!['data:', 'blob:'].includes(u.protocol) && ![site, new URL(apiUrl).origin, s3Origin, issuer].includes(u.origin)) seen.offsite.push(r.url())
  })
  page.on('response', async (res) => {
    const u = new URL(res.url())
    if (u.origin === s3Origin && res.request().method() === 'PUT') seen.puts.push({ path: u.pathname, status: res.status(), query: u.search })
    // The job's status as the page received it, with when.
    if (u.origin === new URL(apiUrl).origin && /^\/api\/jobs\/[^/]+$/.test(u.pathname) && res.request().method() === 'GET' && res.ok()) {
      const j = await res.json().catch(() => null)
      if (j?.status && seen.statuses.at(-1)?.status !== j.status) seen.statuses.push({ status: j.status, at: Date.now() })
    }
  })
  page.on('pageerror', (e) => seen.errors.push(e.message))
  return { page, seen }
}

async function signIn(page, user) {
  await page.getByRole('heading', { name: 'Sign in to IRIS Oculus' }).waitFor({ timeout: 30_000 })
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.waitForURL((u) => u.origin === issuer, { timeout: 30_000 })
  await page.getByLabel('User name').fill(user.name)
  await page.getByLabel('Password').fill(user.password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.waitForURL((u) => u.origin === site, { timeout: 30_000 })
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())
const lastToken = (seen) => seen.api.filter((r) => r.auth).at(-1)?.auth.replace(/^Bearer /, '') ?? ''
const api = (path, token, init = {}) => fetch(apiUrl + path, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } })

// organColours reads the 3D view's pixels and counts, per organ colour of
// the manifest, the pixels whose colour is that colour lit or shaded
// (the same direction in RGB space).
async function organColours(page, organs) {
  const view = page.locator('[data-testid="viewer3d"]')
  const png = await view.screenshot()
  return page.evaluate(
    async ({ b64, colours }) => {
      const img = new Image()
      img.src = `data:image/png;base64,${b64}`
      await img.decode()
      const c = document.createElement('canvas')
      c.width = img.width
      c.height = img.height
      const g = c.getContext('2d')
      g.drawImage(img, 0, 0)
      const d = g.getImageData(0, 0, c.width, c.height).data
      const bg = [d[0], d[1], d[2]]
      const unit = (r, gg, b) => {
        const n = Math.hypot(r, gg, b) || 1
        return [r / n, gg / n, b / n]
      }
      const targets = colours.map((h) => unit(parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)))
      const counts = new Array(targets.length).fill(0)
      let lit = 0
      for (let i = 0; i < d.length; i += 4) {
        if (Math.abs(d[i] - bg[0]) + Math.abs(d[i + 1] - bg[1]) + Math.abs(d[i + 2] - bg[2]) <= 30) continue
        lit++
        if (d[i] + d[i + 1] + d[i + 2] < 60) continue
        const p = unit(d[i], d[i + 1], d[i + 2])
        let best = -1
        let bestDot = 0.998
        targets.forEach((t, k) => {
          const dot = p[0] * t[0] + p[1] * t[1] + p[2] * t[2]
          if (dot > bestDot) {
            bestDot = dot
            best = k
          }
        })
        if (best >= 0) counts[best]++
      }
      return { lit: lit / (d.length / 4), counts, pixels: d.length / 4 }
    },
    { b64: png.toString('base64'), colours: organs.map((o) => o.color) },
  )
}

let result = {}
try {
  // Alice opens the site: the stack's config.json sends her to the provider.
  const A = await browser('alice')
  const tSignIn = Date.now()
  const res = await A.page.goto(site + '/')
  check('the site answers over HTTPS with the app', res?.status() === 200)
  const cfg = await A.page.evaluate(async () => (await fetch('/config.json', { cache: 'no-store' })).json())
  check('the page reads the deployed config.json: the emulated API and the provider', cfg.apiUrl === apiUrl && cfg.oidc?.authority === issuer, JSON.stringify(cfg))
  await signIn(A.page, alice)
  await A.page.getByRole('heading', { name: 'New scan' }).waitFor({ timeout: 30_000 })
  check('alice is signed in and sees the app', (await A.page.getByTestId('user-name').textContent())?.includes(alice.name))
  figure(`sign-in of alice through the provider ${secs(Date.now() - tSignIn)}`)
  const t = lastToken(A.seen)
  check('her API calls carry the provider’s token for her', t !== '' && claims(t).sub === alice.sub && claims(t).client_id === 'iris-web', t && JSON.stringify(claims(t)))

  // The upload: POST /api/jobs, then a PUT of the file to the presigned URL.
  const t0 = Date.now()
  await A.page.setInputFiles('[data-testid="file-input"]', scan)
  await A.page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/, { timeout: 120_000 })
  const jobId = A.page.url().split('/').pop()
  result.job = jobId
  const put = A.seen.puts.find((p) => p.path.includes(jobId))
  check('the file went to S3 by the presigned URL the API returned, cross-origin', put?.status === 200 && /X-Amz-Signature=/.test(put.query), JSON.stringify(A.seen.puts))
  figure(`upload of the 3 mm CT (${(readFileSync(scan).length / 1e6).toFixed(1)} MB) to its job page ${secs(Date.now() - t0)}`)

  // The stages, as the page shows them while the job runs; once done the
  // page opens the results in their place.
  const stageLog = []
  const stagesTimer = setInterval(async () => {
    const now = await A.page
      .locator('[data-testid="stages"] [data-stage]')
      .evaluateAll((els) => els.map((e) => `${e.dataset.stage}:${e.dataset.state}`).join(' '))
      .catch(() => '')
    if (now && stageLog.at(-1)?.s !== now) stageLog.push({ s: now, at: Date.now() })
  }, 200)
  await A.page.locator('[data-testid="stages"] [data-stage="done"][data-state="done"], [data-organ]').first().waitFor({ timeout: DONE_TIMEOUT })
  clearInterval(stagesTimer)
  const order = ['created', 'accepted', 'segmenting', 'meshing', 'done']
  const seenStatuses = A.seen.statuses.map((s) => s.status)
  result.stagesSeen = seenStatuses
  const doneAt = A.seen.statuses.find((s) => s.status === 'done')?.at ?? Date.now()
  result.doneSeconds = (doneAt - t0) / 1000
  figure(`upload → done, as the page saw it, ${secs(doneAt - t0)}`)
  const inOrder = (l) => l.every((s, i) => i === 0 || order.indexOf(s) > order.indexOf(l[i - 1]))
  check('the page saw the job move through the stages in order to done', inOrder(seenStatuses) && seenStatuses.at(-1) === 'done' && seenStatuses.length >= 2, seenStatuses.join(' → '))
  // The stage list: which stage it showed under way, in turn.
  const current = []
  for (const l of stageLog) {
    const m = /(\w+):current/.exec(l.s)
    if (m && current.at(-1) !== m[1]) current.push(m[1])
  }
  check('the stage list showed the stages under way, in order', current.length >= 1 && inOrder(current), stageLog.map((l) => l.s).join(' | '))
  for (const s of A.seen.statuses) figure(`  the page saw ${s.status.padEnd(10)} at ${secs(s.at - t0)}`)
  figure(`  the stage list showed under way: ${current.join(' → ')}`)

  // The organs: the list names the manifest's organs; the 3D view draws them in their colours.
  const job = await (await api(`/api/jobs/${jobId}`, lastToken(A.seen))).json()
  check('the job is done', job.status === 'done', job.status)
  const manifestArt = job.artifacts.find((a) => a.name === 'manifest.json')
  const manifest = await A.page.evaluate(async (u) => (await fetch(u)).json(), manifestArt.url)
  const organs = manifest.organs
  result.organs = organs.length
  await A.page.locator('[data-organ]').first().waitFor({ timeout: 60_000 })
  const listed = await A.page.locator('[data-organ]').evaluateAll((els) => els.map((e) => e.dataset.organ))
  check(`the organ list names the manifest’s ${organs.length} organs`, organs.length > 0 && listed.length === organs.length && organs.every((o) => listed.includes(o.name)), `${listed.length} listed`)
  await A.page.locator('[data-testid="viewer3d"][data-status="ready"]').waitFor({ timeout: 120_000 })
  await A.page.waitForTimeout(500) // a frame after the meshes are in
  const px = await organColours(A.page, organs)
  const drawn = organs.filter((_, i) => px.counts[i] >= 20)
  // Organs inside others (the lungs in the body) may be hidden: two colours at least.
  check('the 3D view draws organs in their manifest colours', px.lit > 0.03 && drawn.length >= Math.min(2, organs.length),
    `${(px.lit * 100).toFixed(1)}% of the view lit, ${drawn.length} organ colours found`)
  figure(`3D view: ${organs.length} organs, the colours of ${drawn.map((o) => `${o.name} (${px.counts[organs.indexOf(o)]} px)`).join(', ')} on screen; organs on ${(px.lit * 100).toFixed(1)}% of ${px.pixels} pixels`)

  // The GLB, downloaded as a person does (the signed URL, from S3).
  const glbArt = job.artifacts.find((a) => a.name === 'scene.glb')
  await A.page.getByRole('tab', { name: 'Downloads' }).click()
  const tDl = Date.now()
  const [download] = await Promise.all([
    A.page.waitForEvent('download', { timeout: 60_000 }),
    A.page.getByRole('button', { name: 'Download GLB' }).click(),
  ])
  mkdirSync(outDir, { recursive: true })
  const glbPath = join(work, 'scene.glb')
  await download.saveAs(glbPath)
  const glb = readFileSync(glbPath)
  result.glbBytes = glb.length
  check('the GLB download is a glTF binary of the listed size', glb.subarray(0, 4).toString('latin1') === 'glTF' && glb.readUInt32LE(4) === 2 && glb.length === glbArt.bytes,
    `${glb.length} bytes (listed ${glbArt.bytes}), starts ${JSON.stringify(glb.subarray(0, 4).toString('latin1'))}`)
  check('it came from the S3 emulator by a presigned URL', new URL(download.url()).origin === s3Origin && /X-Amz-Signature=/.test(download.url()), download.url().slice(0, 120))
  figure(`GLB ${(glb.length / 1e6).toFixed(2)} MB downloaded in ${secs(Date.now() - tDl)}`)

  // Alice signs out, through the provider, back to the sign-in page.
  await A.page.getByRole('button', { name: 'Sign out' }).click()
  await A.page.waitForURL((u) => u.origin === issuer, { timeout: 30_000 })
  await A.page.getByRole('button', { name: /sign me out/i }).click()
  await A.page.waitForURL(`${site}/`, { timeout: 30_000 })
  await A.page.getByRole('heading', { name: 'Sign in to IRIS Oculus' }).waitFor({ timeout: 30_000 })
  const stored = await A.page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('oidc.user:')).length)
  check('alice signed out: back on the sign-in page, no token left in the tab', stored === 0, `${stored} stored users`)

  // Bob, in a browser of his own: alice's job is not there for him.
  const B = await browser('bob')
  await B.page.goto(`${site}/jobs/${jobId}`)
  await signIn(B.page, bob)
  await B.page.waitForURL(`${site}/jobs/${jobId}`, { timeout: 30_000 })
  const nosuch = B.page.getByText('There is no such job')
  await nosuch.waitFor({ timeout: 30_000 })
  check('bob opening alice’s job page is told there is no such job', await nosuch.isVisible())
  await B.page.getByRole('link', { name: 'IRIS Oculus' }).click()
  await B.page.getByText('No scans yet').waitFor({ timeout: 30_000 })
  check('bob’s job list is empty', (await B.page.locator(`a[href="/jobs/${jobId}"]`).count()) === 0)
  const bobToken = lastToken(B.seen)
  check('bob’s token has his own sub', bobToken !== '' && claims(bobToken).sub === bob.sub)
  check('the API answers 404 to bob for alice’s job', (await api(`/api/jobs/${jobId}`, bobToken)).status === 404)
  check('DELETE of alice’s job by bob is 404', (await api(`/api/jobs/${jobId}`, bobToken, { method: 'DELETE' })).status === 404)
  const bobList = await (await api('/api/jobs', bobToken)).json()
  check('bob’s API list is empty', Array.isArray(bobList.jobs) && bobList.jobs.length === 0, JSON.stringify(bobList).slice(0, 200))
  check('the API refuses a request without a token', (await fetch(`${apiUrl}/api/jobs`)).status === 401)

  for (const [who, s] of [['alice', A.seen], ['bob', B.seen]]) {
    check(`${who}’s page made no request beyond the site, the API, S3 and the provider`, s.offsite.length === 0, s.offsite.slice(0, 3).join(', '))
    check(`${who}’s page raised no error`, s.errors.length === 0, s.errors.slice(0, 3).join(' | '))
    check(`every API call of ${who}’s page but the health check carried a bearer token`,
      s.api.filter((r) => r.method !== 'OPTIONS' && r.path !== '/api/health').every((r) => r.auth.startsWith('Bearer ')))
  }
} catch (err) {
  t.fail(err)
  mkdirSync(outDir, { recursive: true })
  for (const [i, c] of contexts.entries()) {
    const p = c.pages()[0]
    const text = await p?.evaluate(() => document.body.innerText).catch(() => '')
    console.log(`     page ${p?.url()}: ${(text ?? '').replace(/\s+/g, ' ').slice(0, 400)}`)
    const shot = join(outDir, `failure-${i}.png`)
    await p?.screenshot({ path: shot }).then(() => console.log(`     screenshot ${shot}`), () => {})
  }
} finally {
  for (const c of contexts) await c.close().catch(() => {})
  rmSync(work, { recursive: true, force: true })
}
const code = t.summary('cloud e2e')
console.log(`RESULT ${JSON.stringify(result)}`)
process.exit(code)
