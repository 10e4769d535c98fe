// A real OpenID Connect provider on loopback for tests and for trying
// sign-in on one machine: npm `oidc-provider` (a certified implementation
// of the specifications), configured like Cognito's managed login as the
// web app uses it — authorization code with PKCE for a public client,
// JWT access tokens that carry `client_id` (and `aud`), refresh tokens,
// RP-initiated logout — with a list of users and passwords instead of a
// user pool. Signing keys are made fresh at every start, so a restart is
// a key rotation: tokens of the last run no longer verify.
//
// Written here (not taken from a library): only the login page and the
// wiring; token issuance, PKCE, discovery, JWKS, refresh and logout are
// oidc-provider's.
//
// As a module:
//   const p = await startProvider({ port: 0, clients: [{ id: 'iris-web', origins: ['http://127.0.0.1:8080'] }],
//                                  users: [{ name: 'alice', password: 'pw', sub: '…' }], accessTokenTTL: 70 })
//   p.issuer  // http://127.0.0.1:PORT
//   await p.close()
//
// Standalone (prints one JSON line {"issuer": …} on stdout when ready, runs until killed):
//   node e2e/oidc-provider.mjs --port 9400 --client iris-web=http://127.0.0.1:8080 \
//        --user alice:alice-password --user bob:bob-password:SUB --access-ttl 300 --audience iris-api
// A client's value is its id, '=', then its web origins (comma-separated): the redirect URI of each
// origin is ORIGIN/auth/callback and its post-logout URI ORIGIN/. A user is name:password[:sub]
// (sub defaults to the name). Env: OIDC_PORT, OIDC_CLIENTS (JSON [{id, origins}]), OIDC_USERS
// (JSON [{name, password, sub}]), OIDC_ACCESS_TTL, OIDC_AUDIENCE.

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import Provider from 'oidc-provider'

/** The path the web app receives the authorization response on. */
export const CALLBACK_PATH = '/auth/callback'

// The resource indicator of the API (an absolute URI, as RFC 8707 wants);
// its tokens' aud is the audience option.
const RESOURCE = 'urn:iris:api'

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' }
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body><main><h1>${esc(title)}</h1>${body}</main></body></html>`
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c) => {
      body += c
      if (body.length > 64 << 10) reject(new Error('form too large'))
    })
    req.on('end', () => resolve(new URLSearchParams(body)))
    req.on('error', reject)
  })
}

/**
 * startProvider listens on host:port (0: any free port) and resolves when
 * the provider answers. Options: clients [{id, origins}], users [{name,
 * password, sub?, email?}], accessTokenTTL seconds (default 300), audience
 * (the access tokens' aud, default 'iris-api'), host (default 127.0.0.1).
 */
export async function startProvider(opts = {}) {
  const host = opts.host ?? '127.0.0.1'
  const audience = opts.audience ?? 'iris-api'
  const accessTokenTTL = opts.accessTokenTTL ?? 300
  const users = new Map((opts.users ?? []).map((u) => [u.name, { ...u, sub: u.sub || u.name }]))
  const bySub = new Map([...users.values()].map((u) => [u.sub, u]))
  const clients = (opts.clients ?? []).map((c) => ({
    client_id: c.id,
    token_endpoint_auth_method: 'none', // a public client: PKCE, no secret
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: c.origins.map((o) => new URL(CALLBACK_PATH, o).href),
    post_logout_redirect_uris: c.origins.map((o) => new URL('/', o).href),
  }))
  const server = createServer()
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, resolve)
  })
  const issuer = `http://${host}:${server.address().port}`

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    pkce: { required: () => true },
    // The browser calls the token endpoint: CORS for the origins of the
    // client's redirect URIs only.
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris.some((u) => new URL(u).origin === origin),
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    findAccount: (_ctx, sub) => {
      const u = bySub.get(sub)
      if (!u) return undefined
      return {
        accountId: sub,
        claims: () => ({ sub, name: u.name, email: u.email ?? `${u.name}@example.test`, email_verified: true }),
      }
    },
    // Like Cognito: a refresh token for every code grant of a client that
    // may refresh, without the offline_access scope.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    ttl: {
      AccessToken: () => accessTokenTTL,
      IdToken: accessTokenTTL,
      AuthorizationCode: 60,
      RefreshToken: 24 * 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
      Interaction: 600,
    },
    features: {
      devInteractions: { enabled: false },
      // Plain pages of our own: the default ones load a web font from
      // the internet.
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => {
          ctx.type = 'html'
          ctx.body = page('Sign out', `${form}<p>Sign out of IRIS Oculus on this provider?</p>
<button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>`)
        },
        postLogoutSuccessSource: (ctx) => {
          ctx.type = 'html'
          ctx.body = page('Signed out', '<p>You are signed out.</p>')
        },
      },
      revocation: { enabled: true },
      // JWT access tokens for the API, as Cognito issues: aud is the
      // API's audience, client_id the web app's client.
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'openid profile email', audience, accessTokenFormat: 'jwt', accessTokenTTL }),
      },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    renderError: (ctx, out) => {
      ctx.type = 'html'
      ctx.body = page('Sign-in error', `<p role="alert">${esc(out.error)}: ${esc(out.error_description ?? '')}</p>`)
    },
  })
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider:', err))
  const callback = provider.callback()

  // The login page: a user name and password from the list; consent is
  // implied (first-party app), as on Cognito's managed login.
  async function interaction(req, res, uid, action) {
    const details = await provider.interactionDetails(req, res)
    if (details.uid !== uid) throw new Error('interaction mismatch')
    const { prompt, params, session } = details
    if (prompt.name === 'login') {
      let error = ''
      if (action === 'login' && req.method === 'POST') {
        const form = await readForm(req)
        const u = users.get(form.get('username') ?? '')
        if (u && form.get('password') === u.password) {
          await provider.interactionFinished(req, res, { login: { accountId: u.sub } }, { mergeWithLastSubmission: false })
          return
        }
        error = '<p role="alert">Wrong user name or password.</p>'
      }
      res.writeHead(error ? 401 : 200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' })
      res.end(
        page(
          'Sign in',
          `${error}<form method="post" action="/interaction/${esc(uid)}/login">
<label>User name <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form>`,
        ),
      )
      return
    }
    if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id })
      if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '))
      if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims)
      for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes ?? {})) {
        grant.addResourceScope(indicator, scopes.join(' '))
      }
      const grantId = await grant.save()
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
      return
    }
    throw new Error(`unexpected prompt ${prompt.name}`)
  }

  server.on('request', (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/.exec(new URL(req.url, issuer).pathname)
    if (!m) {
      callback(req, res)
      return
    }
    interaction(req, res, m[1], m[2]).catch((err) => {
      if (res.headersSent) return res.end()
      res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' })
      res.end(page('Sign-in error', `<p role="alert">This sign-in has expired or is not valid (${esc(err.message)}). Start again from the app.</p>`))
    })
  })

  return {
    issuer,
    provider,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

function parseArgs(argv, env) {
  const o = {
    port: Number(env.OIDC_PORT ?? 0),
    clients: env.OIDC_CLIENTS ? JSON.parse(env.OIDC_CLIENTS) : [],
    users: env.OIDC_USERS ? JSON.parse(env.OIDC_USERS) : [],
    accessTokenTTL: env.OIDC_ACCESS_TTL ? Number(env.OIDC_ACCESS_TTL) : undefined,
    audience: env.OIDC_AUDIENCE,
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, val] = [argv[i], argv[i + 1]]
    switch (flag) {
      case '--port':
        o.port = Number(val)
        break
      case '--host':
        o.host = val
        break
      case '--client': {
        const [id, origins = ''] = val.split('=')
        o.clients.push({ id, origins: origins.split(',').filter(Boolean) })
        break
      }
      case '--user': {
        const [name, password, sub] = val.split(':')
        o.users.push({ name, password, sub })
        break
      }
      case '--access-ttl':
        o.accessTokenTTL = Number(val)
        break
      case '--audience':
        o.audience = val
        break
      default:
        throw new Error(`unknown argument ${flag}`)
    }
    i++
  }
  return o
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const p = await startProvider(parseArgs(process.argv.slice(2), process.env))
  console.log(JSON.stringify({ issuer: p.issuer }))
  const stop = () => p.close().then(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}
