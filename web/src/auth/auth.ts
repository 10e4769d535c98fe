// Sign-in with OpenID Connect, authorization code + PKCE, by oidc-client-ts:
// one code path for Cognito's managed login on AWS and for any provider
// in front of `iris serve --oidc-issuer` (Keycloak, Entra ID, Google).
//
// The tokens live in sessionStorage (this tab only, gone with it). The
// access token is renewed before it expires with the refresh token
// (oidc-client-ts's automatic silent renew), and once more when the API
// refuses one (401); if the API refuses the renewed token too, or the
// renewal fails, the app shows the "sign-in refused" page rather than
// pages of errors.
import { UserManager, WebStorageStateStore, type User } from 'oidc-client-ts'
import { createStore, type StoreApi } from 'zustand/vanilla'
import type { OidcConfig } from '../config'

/** The path the provider sends the browser back to after sign-in. */
export const CALLBACK_PATH = '/auth/callback'

export type AuthStatus =
  | 'starting' // reading the stored session or finishing a sign-in
  | 'signed-out' // no session: the sign-in page
  | 'signed-in'
  | 'refused' // the API refused the token, and renewing it did not help
  | 'error' // the sign-in itself failed (provider unreachable, bad callback)

export interface AuthState {
  status: AuthStatus
  /** The signed-in user's name or e-mail, for the header. */
  userName: string
  /** Why: for 'refused' and 'error'. */
  message: string
}

/** The bearer token source the API client uses. */
export interface TokenSource {
  /** The current access token, renewed first when it has expired; null when signed out. */
  token(): Promise<string | null>
  /** Called on a 401: true when a new token was obtained and the request is worth one retry. */
  refused(rejected: string | null): Promise<boolean>
  /** Called when the API refused the renewed token too. */
  refusedAgain(): void
}

function userName(u: User): string {
  const p = u.profile
  return (p.email as string | undefined) || (p.name as string | undefined) || (p.preferred_username as string | undefined) || p.sub
}

type ReturnState = { returnTo?: string }

/** Auth signs in and out and hands out access tokens. */
export class Auth implements TokenSource {
  readonly store: StoreApi<AuthState>
  readonly manager: UserManager
  private renewing: Promise<User | null> | null = null

  constructor(cfg: OidcConfig, origin = window.location.origin, storage: Storage = window.sessionStorage) {
    this.store = createStore<AuthState>(() => ({ status: 'starting', userName: '', message: '' }))
    this.manager = new UserManager({
      authority: cfg.authority,
      client_id: cfg.clientId,
      scope: cfg.scope,
      response_type: 'code',
      redirect_uri: cfg.redirectUri ?? origin + CALLBACK_PATH,
      post_logout_redirect_uri: cfg.postLogoutRedirectUri ?? origin + '/',
      metadataSeed: cfg.endSessionEndpoint ? { end_session_endpoint: cfg.endSessionEndpoint } : undefined,
      userStore: new WebStorageStateStore({ store: storage }),
      stateStore: new WebStorageStateStore({ store: storage }),
      automaticSilentRenew: true, // by refresh token, before expiry
      loadUserInfo: false,
      monitorSession: false,
    })
    this.logoutParams = cfg.logoutParams
    const ev = this.manager.events
    // While starting, start() itself says when the app may show (after
    // the callback URL has been replaced).
    ev.addUserLoaded((u) => {
      if (this.store.getState().status !== 'starting') this.signedIn(u)
    })
    ev.addUserUnloaded(() => this.store.setState({ status: 'signed-out', userName: '', message: '' }))
    ev.addSilentRenewError((err) => {
      // The token may still be good for a while; act only once it is not.
      void this.manager.getUser().then((u) => {
        if (!u || u.expired) this.refuse(`your session could not be renewed (${err.message})`)
      })
    })
  }

  private readonly logoutParams?: Record<string, string>

  private signedIn(u: User) {
    this.store.setState({ status: 'signed-in', userName: userName(u), message: '' })
  }

  private refuse(message: string) {
    this.store.setState({ status: 'refused', message })
  }

  /**
   * start finishes a sign-in when the page is the callback, else picks up
   * the stored session (renewing it if it has expired).
   */
  async start(loc: Location = window.location, history: History = window.history): Promise<void> {
    try {
      if (loc.pathname === CALLBACK_PATH) {
        const u = await this.manager.signinRedirectCallback(loc.href)
        const to = (u.state as ReturnState | undefined)?.returnTo
        history.replaceState(null, '', to && to.startsWith('/') && !to.startsWith('//') ? to : '/')
        this.signedIn(u)
        return
      }
      const u = await this.manager.getUser()
      if (!u) {
        this.store.setState({ status: 'signed-out' })
        return
      }
      if (!u.expired) {
        this.signedIn(u)
        return
      }
      const fresh = await this.renew()
      if (fresh) this.signedIn(fresh)
      else {
        await this.manager.removeUser()
        this.store.setState({ status: 'signed-out' })
      }
    } catch (err) {
      if (loc.pathname === CALLBACK_PATH) history.replaceState(null, '', '/')
      this.store.setState({ status: 'error', message: err instanceof Error ? err.message : String(err) })
    }
  }

  /** signIn sends the browser to the provider; it comes back to where it was. */
  async signIn(): Promise<void> {
    const here = window.location.pathname
    const returnTo = here === CALLBACK_PATH ? '/' : here
    try {
      await this.manager.signinRedirect({ state: { returnTo } satisfies ReturnState })
    } catch (err) {
      // The provider's discovery document could not be read.
      this.store.setState({ status: 'error', message: err instanceof Error ? err.message : String(err) })
    }
  }

  /** signOut ends the session here and at the provider. */
  async signOut(): Promise<void> {
    try {
      await this.manager.signoutRedirect({ extraQueryParams: this.logoutParams })
    } catch (err) {
      // The provider has no logout endpoint or cannot be reached: forget
      // the tokens here at least.
      await this.manager.removeUser()
      this.store.setState({ status: 'signed-out', message: err instanceof Error ? err.message : String(err) })
    }
  }

  /** renew gets a new access token by the refresh token; null when it cannot. */
  private renew(): Promise<User | null> {
    if (!this.renewing) {
      this.renewing = this.manager
        .signinSilent()
        .catch(() => null)
        .finally(() => {
          this.renewing = null
        })
    }
    return this.renewing
  }

  async token(): Promise<string | null> {
    const u = await this.manager.getUser()
    if (!u) return null
    if (!u.expired) return u.access_token
    const fresh = await this.renew()
    if (!fresh) {
      this.refuse('your session has expired')
      return null
    }
    return fresh.access_token
  }

  async refused(rejected: string | null): Promise<boolean> {
    const u = await this.manager.getUser()
    if (u && rejected && u.access_token !== rejected) return true // renewed meanwhile: retry
    const fresh = u?.refresh_token ? await this.renew() : null
    if (fresh && fresh.access_token !== rejected) return true
    this.refuse('the server did not accept your sign-in')
    return false
  }

  refusedAgain(): void {
    this.refuse('the server did not accept your sign-in')
  }
}
