// End-to-end sign-in: a real OpenID Connect provider (e2e/oidc-provider.mjs,
// npm oidc-provider) and a real `iris serve --oidc-issuer` on loopback, the
// built web app in Debian's Chromium. Nothing here mints a token: every
// token comes from the provider through the browser's code + PKCE flow.
//
//   node e2e/auth.e2e.mjs        (from web/; needs ../bin/iris built with the app: make iris)
//
// Covers: the sign-in page, a wrong password, sign-in, the bearer token on
// every API call, upload of the 3 mm CT to done, renewal of the access
// token before it expires (the provider's tokens live 75 s) and the app
// still working after the first token has expired, owner isolation across
// two users (the API and the signed URLs), sign-out, and the clear page
// when the server refuses the token. Env: CHROMIUM, IRIS_BIN, IRIS_SHARED_DATA.

import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromiumPath, freePort, launch, tally } from './lib.mjs'
import { startProvider } from './oidc-provider.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const bin = resolve(process.env.IRIS_BIN ?? join(repo, 'bin/iris'))
const scan = join(process.env.IRIS_SHARED_DATA ?? join(repo, 'testdata'), 'totalsegmentator-example', 'ct_3mm.nii.gz')
const TTL = 75 // seconds an access token lives
const DONE_TIMEOUT = 240_000
const OVERALL = 9 * 60_000

for (const [what, path, fix] of [
  [bin, bin, 'build it with `make iris`'],
  ['chromium', chromiumPath, 'apt-get install chromium'],
  ['the 3 mm CT', scan, 'set IRIS_SHARED_DATA to the test data folder'],
]) {
  if (!existsSync(path)) {
    console.error(`FAIL ${what} not found at ${path}: ${fix}`)
    process.exit(1)
  }
}
const overall = setTimeout(() => {
  console.log(`FAIL the sign-in e2e ran past ${OVERALL / 60000} min`)
  process.exit(1)
}, OVERALL)
overall.unref()

const t = tally()
const check = t.check


async function waitFor(what, fn, timeout = 30_000, every = 200) {
  const until = Date.now() + timeout
  for (;;) {
    const v = await fn().catch(() => undefined)
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}`)
    await new Promise((r) => setTimeout(r, every))
  }
}

const claims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString())

const work = mkdtempSync(join(tmpdir(), 'iris-auth-e2e-'))
const port = await freePort()
const origin = `http://127.0.0.1:${port}`
const users = [
  { name: 'alice', password: 'alice-Pw-1!', sub: randomUUID() },
  { name: 'bob', password: 'bob-Pw-2!', sub: randomUUID() },
]
const provider = await startProvider({ clients: [{ id: 'iris-web', origins: [origin] }], users, accessTokenTTL: TTL })
console.log(`provider ${provider.issuer}, app ${origin}`)

let serveLog = ''
let serve = null
async function startServe(audience) {
  const p = spawn(
    bin,
    ['serve', '--data', join(work, 'iris-data'), '--addr', `127.0.0.1:${port}`, '--settle', '300ms',
      '--oidc-issuer', provider.issuer, '--oidc-audience', audience, '--oidc-client-id', 'iris-web'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  p.stdout.on('data', (d) => (serveLog += d))
  p.stderr.on('data', (d) => (serveLog += d))
  const exited = new Promise((r) => p.once('exit', r))
  p.exited = exited
  await waitFor('iris serve to answer', async () => (await fetch(`${origin}/api/health`)).ok, 30_000)
  return p
}
async function stopServe() {
  if (!serve) return
  serve.kill('SIGTERM')
  await Promise.race([serve.exited, new Promise((r) => setTimeout(r, 20_000))])
  serve = null
}

const contexts = []
async function browser(name) {
  const profile = mkdtempSync(join(work, `chromium-${name}-`))
  const context = await launch(profile)
  contexts.push(context)
  const page = context.pages()[0] ?? (await context.newPage())
  const seen = { api: [], refreshes: 0, offsite: [], errors: [] }
  page.on('request', (r) => {
    const u = new URL(r.url())
    if (u.origin === origin && u.pathname.startsWith('/api/')) seen.api.push({ path: u.pathname, auth: r.headers().authorization ?? '' })
    if (u.origin === provider.issuer && u.pathname === '/token' && /grant_type=refresh_token/.test(r.postData() ?? '')) seen.refreshes++
    if (!['data:', 'blob:'].includes(u.protocol) && u.origin !== origin && u.origin !== provider.issuer) seen.offsite.push(r.url())
  })
  page.on('pageerror', (e) => seen.errors.push(e.message))
  return { page, seen }
}

async function signIn(page, user, password) {
  await page.getByRole('heading', { name: 'Sign in to IRIS Oculus' }).waitFor({ timeout: 20_000 })
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.waitForURL((u) => u.origin === provider.issuer, { timeout: 20_000 })
  await page.getByLabel('User name').fill(user)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
}

/** The bearer token the page sent last, read off its own requests. */
const lastToken = (seen) => seen.api.at(-1)?.auth.replace(/^Bearer /, '') ?? ''
const api = (path, token, init = {}) => fetch(origin + path, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } })

try {
  serve = await startServe('iris-web')

  // Without a browser: the app's config names the provider; the API wants a token.
  const cfg = await (await fetch(`${origin}/config.json`)).json()
  check('/config.json names the provider and the client', cfg.oidc?.authority === provider.issuer && cfg.oidc?.clientId === 'iris-web', JSON.stringify(cfg))
  check('the API refuses a request without a token', (await fetch(`${origin}/api/jobs`)).status === 401)

  // Alice signs in (after one wrong password) and uploads the CT.
  const A = await browser('alice')
  const t0 = Date.now()
  await A.page.goto(origin + '/')
  await signIn(A.page, 'alice', 'not-her-password')
  const wrong = A.page.getByRole('alert').filter({ hasText: 'Wrong user name or password' })
  await wrong.waitFor({ timeout: 10_000 })
  check('the provider refuses a wrong password', await wrong.isVisible())
  await A.page.getByLabel('User name').fill('alice')
  await A.page.getByLabel('Password').fill(users[0].password)
  await A.page.getByRole('button', { name: 'Sign in' }).click()
  await A.page.waitForURL((u) => u.origin === origin, { timeout: 20_000 })
  await A.page.getByRole('heading', { name: 'New scan' }).waitFor({ timeout: 20_000 })
  check('alice is signed in and sees the app', (await A.page.getByTestId('user-name').textContent())?.includes('alice'))
  await waitFor('the job list to load', async () => A.seen.api.some((r) => r.path === '/api/jobs'), 10_000)
  const firstToken = lastToken(A.seen)
  check('her token is a JWT for the client, with her sub', claims(firstToken).sub === users[0].sub && claims(firstToken).client_id === 'iris-web')

  await A.page.setInputFiles('[data-testid="file-input"]', scan)
  await A.page.waitForURL(/\/jobs\/[A-Za-z0-9_-]+$/, { timeout: 60_000 })
  const jobId = A.page.url().split('/').pop()
  await A.page.locator('[data-organ]').first().waitFor({ timeout: DONE_TIMEOUT })
  console.log(`     job ${jobId} done ${((Date.now() - t0) / 1000).toFixed(1)} s after sign-in began`)
  const aliceJob = await (await api(`/api/jobs/${jobId}`, lastToken(A.seen))).json()
  check('alice’s job is done', aliceJob.status === 'done', aliceJob.status)
  check('every API call of the page carried a bearer token', A.seen.api.length > 3 && A.seen.api.every((r) => r.auth.startsWith('Bearer ')),
    `${A.seen.api.filter((r) => !r.auth).length} of ${A.seen.api.length} without`)

  // Renewal: before the first token expires, the app has a new one by the
  // refresh token; after it has expired, the app still works.
  await waitFor('a refresh-token renewal', async () => A.seen.refreshes > 0, TTL * 1000)
  const firstExp = claims(firstToken).exp * 1000
  check('the token was renewed before it expired', Date.now() < firstExp, `renewed ${((Date.now() - firstExp) / 1000).toFixed(0)} s after expiry`)
  await waitFor('the first token to expire', async () => Date.now() > firstExp + 2000, TTL * 1000 + 5000, 500)
  check('the server now refuses the first token', (await api('/api/jobs', firstToken)).status === 401)
  const before = A.seen.api.length
  const listed = A.page.waitForResponse((r) => new URL(r.url()).pathname === '/api/jobs' && r.request().method() === 'GET', { timeout: 20_000 })
  await A.page.getByRole('link', { name: 'IRIS Oculus' }).click()
  const listRes = await listed
  const renewed = A.seen.api.slice(before).map((r) => r.auth.replace(/^Bearer /, ''))
  check('after the first token expired the app lists jobs with a renewed token', listRes.status() === 200 && renewed.length > 0 && !renewed.includes(firstToken), `${listRes.status()}`)
  await A.page.locator(`[data-testid="job-list"] a[href="/jobs/${jobId}"]`).waitFor({ timeout: 10_000 })
  check('alice’s list shows her job', true)
  console.log(`     ${A.seen.refreshes} refresh-token renewals in ${((Date.now() - t0) / 1000).toFixed(0)} s`)

  // Bob: a second real user sees nothing of alice's.
  const B = await browser('bob')
  await B.page.goto(`${origin}/jobs/${jobId}`)
  await signIn(B.page, 'bob', users[1].password)
  await B.page.waitForURL(`${origin}/jobs/${jobId}`, { timeout: 20_000 })
  const nosuch = B.page.getByText('There is no such job')
  await nosuch.waitFor({ timeout: 20_000 })
  check('bob opening alice’s job page is told there is no such job', await nosuch.isVisible())
  await B.page.getByRole('link', { name: 'IRIS Oculus' }).click()
  await B.page.getByText('No scans yet').waitFor({ timeout: 20_000 })
  check('bob’s job list is empty', (await B.page.locator(`a[href="/jobs/${jobId}"]`).count()) === 0)
  const bobToken = lastToken(B.seen)
  check('bob’s token has his own sub', claims(bobToken).sub === users[1].sub)
  check('GET of alice’s job with bob’s token is 404', (await api(`/api/jobs/${jobId}`, bobToken)).status === 404)
  check('DELETE of alice’s job with bob’s token is 404', (await api(`/api/jobs/${jobId}`, bobToken, { method: 'DELETE' })).status === 404)
  const bobList = await (await api('/api/jobs', bobToken)).json()
  check('bob’s API list holds no job of alice’s', Array.isArray(bobList.jobs) && !bobList.jobs.some((j) => j.id === jobId), JSON.stringify(bobList).slice(0, 200))
  // Signed URLs: bob's own signature does not open alice's objects.
  const created = await (await api('/api/jobs', bobToken, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ filename: 'b.nii.gz', bytes: 10 }) })).json()
  const manifest = aliceJob.artifacts.find((a) => a.name === 'manifest.json')
  const up = new URL(created.upload.url, origin)
  const forged = new URL(new URL(manifest.url, origin).pathname + up.search, origin)
  check('bob’s upload signature does not open alice’s manifest', (await fetch(forged)).status === 403)
  const aliceUrl = new URL(manifest.url, origin)
  const moved = new URL(aliceUrl.pathname.replace(jobId, created.job.id) + aliceUrl.search, origin)
  check('a signed URL does not open another job’s key', (await fetch(moved)).status === 403)
  check('alice’s own signed URL still opens her manifest', (await fetch(aliceUrl)).status === 200)
  const aliceAfter = await api(`/api/jobs/${jobId}`, lastToken(A.seen))
  check('alice’s job survived bob’s delete', aliceAfter.status === 200)

  // Sign-out: through the provider, back to the sign-in page, tokens gone.
  await A.page.getByRole('button', { name: 'Sign out' }).click()
  await A.page.waitForURL((u) => u.origin === provider.issuer, { timeout: 20_000 })
  await A.page.getByRole('button', { name: /sign me out/i }).click()
  await A.page.waitForURL(`${origin}/`, { timeout: 20_000 })
  await A.page.getByRole('heading', { name: 'Sign in to IRIS Oculus' }).waitFor({ timeout: 20_000 })
  const stored = await A.page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith('oidc.user:')).length)
  check('signed out: the sign-in page, no tokens left in the tab', stored === 0, `${stored} stored users`)
  const afterOut = A.seen.api.length
  await A.page.reload()
  await A.page.getByRole('heading', { name: 'Sign in to IRIS Oculus' }).waitFor({ timeout: 20_000 })
  check('signed out: a reload makes no API call', A.seen.api.length === afterOut)

  // A refused token: the server now wants another audience, so bob's
  // tokens (and their renewals) are refused; the app says so plainly.
  await stopServe()
  serve = await startServe('another-deployment')
  await B.page.reload()
  const refused = B.page.getByRole('heading', { name: 'Your sign-in was refused' })
  await refused.waitFor({ timeout: 30_000 })
  check('a refused token gives the clear page', await refused.isVisible())
  check('it offers to sign in again', await B.page.getByRole('button', { name: 'Sign in again' }).isVisible())
  check('it shows no part of the app behind it', (await B.page.getByRole('heading', { name: 'New scan' }).count()) === 0)
  // The server back as it was: "Sign in again" leads back into the app.
  await stopServe()
  serve = await startServe('iris-web')
  await B.page.getByRole('button', { name: 'Sign in again' }).click()
  await B.page.waitForURL((u) => u.origin === provider.issuer || u.pathname === '/', { timeout: 20_000 })
  if (new URL(B.page.url()).origin === provider.issuer && (await B.page.getByLabel('Password').count()) > 0) {
    await B.page.getByLabel('User name').fill('bob')
    await B.page.getByLabel('Password').fill(users[1].password)
    await B.page.getByRole('button', { name: 'Sign in' }).click()
  }
  await B.page.getByRole('heading', { name: 'New scan' }).waitFor({ timeout: 20_000 })
  check('"Sign in again" leads back into the app', await B.page.getByText('No scans yet').isVisible() || (await B.page.getByTestId('job-list').count()) > 0)

  // The provider gone: signing in says so instead of doing nothing.
  await provider.close()
  await A.page.getByRole('button', { name: 'Sign in', exact: true }).click()
  const failedPage = A.page.getByRole('heading', { name: 'Sign-in failed' })
  await failedPage.waitFor({ timeout: 30_000 })
  check('with the provider down, signing in shows "Sign-in failed"', await failedPage.isVisible())

  for (const [who, s] of [['alice', A.seen], ['bob', B.seen]]) {
    check(`${who}’s page made no request beyond the app and the provider`, s.offsite.length === 0, s.offsite.slice(0, 3).join(', '))
    check(`${who}’s page raised no error`, s.errors.length === 0, s.errors.slice(0, 3).join(' | '))
  }
} catch (err) {
  t.fail(err)
  for (const c of contexts) {
    const p = c.pages()[0]
    const text = await p?.evaluate(() => document.body.innerText).catch(() => '')
    console.log(`     page ${p?.url()}: ${(text ?? '').replace(/\s+/g, ' ').slice(0, 400)}`)
  }
} finally {
  for (const c of contexts) await c.close().catch(() => {})
  await stopServe()
  await provider.close()
  if (t.failed) console.log(`iris serve log (tail):\n${serveLog.split('\n').slice(-30).join('\n')}`)
  rmSync(work, { recursive: true, force: true })
}
process.exit(t.summary('auth e2e'))
