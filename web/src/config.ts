// The deployment's settings, read from /config.json when the app starts.
// The AWS stack writes one (infra/web.go) and `iris serve --oidc-issuer`
// serves one; the loopback default of `iris serve` has none, and the app
// then runs without sign-in against its own origin.

/** How the app signs in: an OpenID Connect provider and its client. */
export interface OidcConfig {
  /** The issuer; its /.well-known/openid-configuration is read. */
  authority: string
  clientId: string
  /** Space-separated scopes; default "openid profile email". */
  scope: string
  /** Default: ORIGIN/auth/callback. */
  redirectUri?: string
  /** Default: ORIGIN/. */
  postLogoutRedirectUri?: string
  /** For providers whose discovery names none (Cognito: https://DOMAIN/logout). */
  endSessionEndpoint?: string
  /** Extra query parameters of the logout request (Cognito: client_id, logout_uri). */
  logoutParams?: Record<string, string>
}

export interface AppConfig {
  /** Origin (and path prefix) of the API; "" for the page's own. */
  apiUrl: string
  /** Absent: no sign-in. */
  oidc?: OidcConfig
}

const str = (v: unknown): v is string => typeof v === 'string'

function isHttpUrl(s: string): boolean {
  try {
    const u = new URL(s)
    return u.protocol === 'https:' || u.protocol === 'http:'
  } catch {
    return false
  }
}

/**
 * parseConfig checks a config document; a document that is not what the
 * app needs is an error naming the field, never a silent run without
 * sign-in (which would only meet 401s).
 */
export function parseConfig(v: unknown, fallbackApi = ''): AppConfig {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('config.json is not a JSON object')
  const o = v as Record<string, unknown>
  let apiUrl = fallbackApi
  if (o.apiUrl !== undefined) {
    if (!str(o.apiUrl) || (o.apiUrl !== '' && !isHttpUrl(o.apiUrl))) throw new Error('config.json: apiUrl must be an http(s) URL or ""')
    apiUrl = o.apiUrl.replace(/\/+$/, '')
  }
  if (o.oidc === undefined || o.oidc === null) return { apiUrl }
  const c = o.oidc as Record<string, unknown>
  if (typeof c !== 'object') throw new Error('config.json: oidc must be an object')
  if (!str(c.authority) || !isHttpUrl(c.authority)) throw new Error('config.json: oidc.authority must be the issuer URL')
  if (!str(c.clientId) || c.clientId === '') throw new Error('config.json: oidc.clientId is missing')
  const oidc: OidcConfig = { authority: c.authority, clientId: c.clientId, scope: str(c.scope) && c.scope ? c.scope : 'openid profile email' }
  for (const k of ['redirectUri', 'postLogoutRedirectUri', 'endSessionEndpoint'] as const) {
    if (c[k] === undefined) continue
    const val = c[k]
    if (!str(val) || !isHttpUrl(val)) throw new Error(`config.json: oidc.${k} must be an http(s) URL`)
    oidc[k] = val
  }
  if (c.logoutParams !== undefined) {
    const p = c.logoutParams as Record<string, unknown>
    if (!p || typeof p !== 'object' || Object.values(p).some((x) => !str(x))) throw new Error('config.json: oidc.logoutParams must map names to strings')
    oidc.logoutParams = p as Record<string, string>
  }
  return { apiUrl, oidc }
}

/**
 * loadConfig fetches /config.json. None there (404) means the loopback
 * default: no sign-in, the API at fallbackApi.
 */
export async function loadConfig(fetchFn: typeof fetch = fetch, fallbackApi = ''): Promise<AppConfig> {
  let res: Response
  try {
    res = await fetchFn('/config.json', { cache: 'no-store', headers: { Accept: 'application/json' } })
  } catch (err) {
    throw new Error(`cannot read /config.json (${err instanceof Error ? err.message : String(err)})`)
  }
  if (res.status === 404) return { apiUrl: fallbackApi }
  if (!res.ok) throw new Error(`cannot read /config.json: the server answered ${res.status}`)
  let body: unknown
  try {
    body = await res.json()
  } catch {
    throw new Error('config.json is not JSON')
  }
  return parseConfig(body, fallbackApi)
}
