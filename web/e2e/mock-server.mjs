// A stand-in for `iris serve` for working on the web app alone: the HTTP API
// of internal/api (same JSON, same error shape), signed-URL style uploads
// and downloads under /blobs/, and the built app from web/dist. The
// pipeline is simulated by timers, but its results are real: a model set
// made by `iris mesh` from the shared example segmentation, and the
// uploaded scan itself as ct.nii.gz.
//
//   node e2e/mock-server.mjs [--port 8080]     (IRIS_MESH_DIR=folder to reuse a model set)

import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream, existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, extname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'

const here = dirname(fileURLToPath(import.meta.url))
const webDir = resolve(here, '..')
const repoDir = resolve(webDir, '..')

/** makeModelSet runs `iris mesh` on the shared example segmentation. */
export function makeModelSet() {
  const seg = resolve(repoDir, 'testdata/totalsegmentator-example/ct_3mm_seg.nii.gz')
  if (!existsSync(seg)) throw new Error(`${seg} not found: the mock needs the repository's testdata/`)
  const out = mkdtempSync(join(tmpdir(), 'iris-mock-mesh-'))
  execFileSync('go', ['run', './cmd/iris', 'mesh', seg, '-o', out], { cwd: repoDir, stdio: ['ignore', 'ignore', 'inherit'] })
  return out
}

function listFiles(dir, prefix = '') {
  const out = []
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...listFiles(p, `${prefix}${name}/`))
    else out.push(`${prefix}${name}`)
  }
  return out
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
}

function sendJSON(res, code, body) {
  const data = JSON.stringify(body)
  res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(data) })
  res.end(data)
}

function sendError(res, code, errCode, message) {
  sendJSON(res, code, { error: { code: errCode, message } })
}

function sendFile(res, path, headers = {}) {
  const size = statSync(path).size
  res.writeHead(200, { 'Content-Length': size, 'Content-Type': TYPES[extname(path)] ?? 'application/octet-stream', ...headers })
  createReadStream(path).pipe(res)
}

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const parts = []
    let n = 0
    req.on('data', (c) => {
      n += c.length
      if (n > limit) {
        reject(new Error('too large'))
        req.destroy()
      } else parts.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(parts)))
    req.on('error', reject)
  })
}

/** niftiFacts reads what ingest would report about an uploaded NIfTI. */
function niftiFacts(buf) {
  let b = buf
  if (b[0] === 0x1f && b[1] === 0x8b) b = gunzipSync(b)
  if (b.length < 348 || b.readInt32LE(0) !== 348) throw new Error('not a NIfTI-1 file')
  const dims = [1, 2, 3].map((i) => b.readInt16LE(40 + 2 * i))
  const spacing = [1, 2, 3].map((i) => Math.round(b.readFloatLE(76 + 4 * i) * 1000) / 1000)
  return { dims, spacingMm: spacing }
}

/**
 * startMockServer listens on port (0: any) and returns { url, close }.
 * Pipeline timings (ms) can be shortened for tests.
 */
export async function startMockServer({ port = 0, host = '127.0.0.1', meshDir, distDir = join(webDir, 'dist'), steps = [400, 400, 1500, 800] } = {}) {
  const models = meshDir ?? process.env.IRIS_MESH_DIR ?? makeModelSet()
  const manifest = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8'))
  const modelFiles = listFiles(models)
  const uploads = mkdtempSync(join(tmpdir(), 'iris-mock-uploads-'))
  const jobs = new Map()
  const timers = new Set()
  const expires = () => new Date(Date.now() + 15 * 60_000).toISOString()
  const now = () => new Date().toISOString()

  const view = (j) => ({
    id: j.id,
    status: j.status,
    fileName: j.filename,
    createdAt: j.createdAt,
    updatedAt: j.updatedAt,
    stages: j.stages,
    input: j.input,
    engine: j.engine,
    error: j.error,
    organs: j.organs,
    artifacts: j.artifacts.map((a) => ({ name: a.name, url: `/blobs/results/${j.id}/${a.name}?sig=${j.sig}`, bytes: a.bytes, expiresAt: expires() })),
  })

  const move = (j, status, extra = {}) => {
    const t = now()
    Object.assign(j, { status, updatedAt: t, stages: { ...j.stages, [status]: t } }, extra)
  }

  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }

  function runPipeline(j, data) {
    let input
    try {
      input = { format: 'nifti', file: j.filename, bytes: data.length, orientation: 'RAS', ...niftiFacts(data) }
    } catch (err) {
      later(steps[0], () =>
        move(j, 'failed', {
          error: { stage: 'ingest', code: 'invalid_nifti', message: `The file is not a readable NIfTI volume (${err.message}). Upload a .nii or .nii.gz file.` },
        }),
      )
      return
    }
    writeFileSync(join(uploads, `${j.id}.nii.gz`), data)
    later(steps[0], () => {
      move(j, 'accepted', { input })
      later(steps[1], () => {
        move(j, 'segmenting', { engine: 'mock' })
        later(steps[2], () => {
          move(j, 'meshing')
          later(steps[3], () => {
            const artifacts = modelFiles.map((name) => ({ name, path: join(models, name), bytes: statSync(join(models, name)).size }))
            artifacts.push({ name: 'ct.nii.gz', path: join(uploads, `${j.id}.nii.gz`), bytes: data.length })
            const organs = manifest.organs.map((o) => ({
              label: o.label,
              name: o.name,
              displayName: o.displayName,
              system: o.system,
              color: o.color,
              voxelCount: o.voxelCount,
              volumeMl: o.voxelVolumeMl,
              meshVolumeMl: o.meshVolumeMl,
              surfaceAreaCm2: o.surfaceAreaCm2,
              triangles: o.triangles,
              touchesBorder: o.touchesBorder,
            }))
            move(j, 'done', { artifacts, organs })
          })
        })
      })
    })
  }

  async function api(req, res, url) {
    const path = url.pathname
    if (path === '/api/health' && req.method === 'GET') return sendJSON(res, 200, { status: 'ok', components: { mock: 'ok' } })
    if (path === '/api/jobs' && req.method === 'POST') {
      let body
      try {
        body = JSON.parse((await readBody(req, 64 << 10)).toString('utf8'))
      } catch (err) {
        return sendError(res, 400, 'bad_request', `the body must be JSON {"filename": "…", "bytes": N}: ${err.message}`)
      }
      const name = String(body.filename ?? '')
      if (!/\.(nii|nii\.gz|zip)$/i.test(name) || name.length < 5) {
        return sendError(res, 415, 'unsupported_file', `"${name}" is not a supported scan: send a NIfTI file (.nii, .nii.gz) or a .zip of a DICOM series`)
      }
      if (!(body.bytes > 0)) return sendError(res, 400, 'bad_request', "bytes must be the file's size, greater than 0")
      const id = (Date.now().toString(32) + randomBytes(8).toString('hex')).slice(0, 26)
      const t = now()
      const j = { id, filename: name.replace(/[^A-Za-z0-9._-]/g, '_'), declared: body.bytes, sig: randomBytes(8).toString('hex'), status: 'created', createdAt: t, updatedAt: t, stages: { created: t }, input: null, error: null, organs: [], artifacts: [] }
      jobs.set(id, j)
      res.setHeader('Location', `/api/jobs/${id}`)
      return sendJSON(res, 201, {
        job: view(j),
        upload: { method: 'PUT', url: `/blobs/uploads/${id}/${j.filename}?bytes=${body.bytes}&sig=${j.sig}`, headers: { 'Content-Type': 'application/octet-stream' }, expiresAt: expires() },
      })
    }
    if (path === '/api/jobs' && req.method === 'GET') {
      const limit = Number(url.searchParams.get('limit') ?? 20)
      if (!(limit >= 1 && limit <= 100)) return sendError(res, 400, 'bad_request', 'limit must be 1..100')
      const all = [...jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
      const start = Number(url.searchParams.get('cursor') || 0)
      const page = all.slice(start, start + limit)
      return sendJSON(res, 200, { jobs: page.map(view), next: start + limit < all.length ? String(start + limit) : '' })
    }
    const m = /^\/api\/jobs\/([^/]+)$/.exec(path)
    if (m) {
      const j = jobs.get(m[1])
      if (!j) return sendError(res, 404, 'not_found', `no job "${m[1]}"`)
      if (req.method === 'GET') return sendJSON(res, 200, view(j))
      if (req.method === 'DELETE') {
        jobs.delete(j.id)
        res.writeHead(204).end()
        return
      }
      res.setHeader('Allow', 'GET, DELETE')
      return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed here; use GET, DELETE`)
    }
    return sendError(res, 404, 'not_found', `no such API endpoint: ${req.method} ${path}`)
  }

  async function blobs(req, res, url) {
    const up = /^\/blobs\/uploads\/([^/]+)\/([^/]+)$/.exec(url.pathname)
    if (up && req.method === 'PUT') {
      const j = jobs.get(up[1])
      if (!j || url.searchParams.get('sig') !== j.sig) return sendError(res, 403, 'forbidden', "the link's signature does not match")
      let data
      try {
        data = await readBody(req, j.declared)
      } catch {
        return sendError(res, 400, 'bad_request', `the upload is larger than the ${j.declared} bytes signed for`)
      }
      if (data.length !== j.declared) return sendError(res, 400, 'bad_request', `the upload is ${data.length} bytes; the link was signed for ${j.declared}`)
      res.writeHead(200).end()
      runPipeline(j, data)
      return
    }
    const down = /^\/blobs\/results\/([^/]+)\/(.+)$/.exec(url.pathname)
    if (down && (req.method === 'GET' || req.method === 'HEAD')) {
      const j = jobs.get(down[1])
      const a = j?.artifacts.find((x) => x.name === decodeURIComponent(down[2]))
      if (!j || !a || url.searchParams.get('sig') !== j.sig) return sendError(res, 403, 'forbidden', "the link's signature does not match")
      return sendFile(res, a.path, { 'Content-Disposition': `attachment; filename="${a.name.split('/').pop()}"` })
    }
    return sendError(res, 405, 'method_not_allowed', `${req.method} is not allowed on a blob link`)
  }

  function app(req, res, url) {
    if (!existsSync(join(distDir, 'index.html'))) {
      res.writeHead(503, { 'Content-Type': 'text/plain' }).end('web/dist is not built: run npm run build')
      return
    }
    // As iris serve on loopback: the API on this origin, no sign-in.
    if (url.pathname === '/config.json') return sendJSON(res, 200, { apiUrl: '' })
    const rel = decodeURIComponent(url.pathname).replace(/^\/+/, '')
    const file = resolve(distDir, rel)
    if (rel && file.startsWith(distDir + '/') && existsSync(file) && statSync(file).isFile()) {
      return sendFile(res, file, { 'Cache-Control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache' })
    }
    if (extname(rel)) return res.writeHead(404).end('not found')
    return sendFile(res, join(distDir, 'index.html'), { 'Cache-Control': 'no-cache' })
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://mock')
    const route = url.pathname.startsWith('/api/') ? api : url.pathname.startsWith('/blobs/') ? blobs : app
    Promise.resolve(route(req, res, url)).catch((err) => {
      if (!res.headersSent) sendError(res, 500, 'internal', `mock: ${err.message}`)
    })
  })
  await new Promise((ok) => server.listen(port, host, ok))
  const addr = server.address()
  return {
    url: `http://${host}:${addr.port}`,
    manifest,
    close: () =>
      new Promise((ok) => {
        for (const t of timers) clearTimeout(t)
        server.closeAllConnections?.()
        server.close(() => ok())
      }),
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port')
  const port = i > 0 ? Number(process.argv[i + 1]) : 8080
  const s = await startMockServer({ port })
  console.log(`mock IRIS API and web app on ${s.url} (${s.manifest.organs.length} organs in the model set)`)
}
