// What the app shows around sign-in: the app itself when signed in (or
// when the deployment has no sign-in), else one clear page saying what
// happened and the one button that helps.
import type { ReactNode } from 'react'
import { useStore } from 'zustand'
import { useServices } from '../context'
import type { Auth } from './auth'

function Page({ title, children, alert = false }: { title: string; children: ReactNode; alert?: boolean }) {
  return (
    <main className="mx-auto flex h-full max-w-md flex-col justify-center gap-4 p-6" data-testid="auth-page">
      <h1 className="flex items-center gap-2 text-xl font-semibold">
        <img src="/favicon.svg" alt="" className="h-7 w-7" />
        {title}
      </h1>
      <div role={alert ? 'alert' : undefined} className="flex flex-col gap-4 text-slate-300">
        {children}
      </div>
    </main>
  )
}

const button = 'self-start rounded bg-sky-700 px-4 py-2 font-medium text-white hover:bg-sky-600 focus:outline-none focus:ring-2 focus:ring-sky-300'

function Gate({ auth, children }: { auth: Auth; children: ReactNode }) {
  const { status, message } = useStore(auth.store)
  const again = () => void auth.manager.removeUser().then(() => auth.signIn())
  switch (status) {
    case 'signed-in':
      return <>{children}</>
    case 'starting':
      return (
        <Page title="IRIS Oculus">
          <p role="status">Signing in…</p>
        </Page>
      )
    case 'signed-out':
      return (
        <Page title="Sign in to IRIS Oculus">
          <p>Your scans and models are yours alone: sign in to see them or to send a new scan.</p>
          <button type="button" className={button} onClick={() => void auth.signIn()}>
            Sign in
          </button>
        </Page>
      )
    case 'refused':
      return (
        <Page title="Your sign-in was refused" alert>
          <p>
            The server did not accept your sign-in{message ? ` (${message})` : ''}. It may have expired, been revoked, or be for another
            deployment. Nothing was changed; sign in again to continue.
          </p>
          <button type="button" className={button} onClick={again}>
            Sign in again
          </button>
        </Page>
      )
    case 'error':
      return (
        <Page title="Sign-in failed" alert>
          <p>Signing in did not complete: {message || 'the sign-in service did not answer'}.</p>
          <button type="button" className={button} onClick={again}>
            Try again
          </button>
        </Page>
      )
  }
}

/** AuthGate shows its children only to a signed-in user, when sign-in is on. */
export function AuthGate({ children }: { children: ReactNode }) {
  const { auth } = useServices()
  if (!auth) return <>{children}</>
  return <Gate auth={auth}>{children}</Gate>
}

/** UserMenu is the header's name and sign-out button; nothing without sign-in. */
export function UserMenu() {
  const { auth } = useServices()
  if (!auth) return null
  return <SignedInAs auth={auth} />
}

function SignedInAs({ auth }: { auth: Auth }) {
  const { userName } = useStore(auth.store)
  return (
    <div className="ml-auto flex items-center gap-3 text-sm">
      <span className="text-slate-400" data-testid="user-name">
        {userName}
      </span>
      <button type="button" className="rounded border border-slate-600 px-3 py-1 hover:bg-slate-800" onClick={() => void auth.signOut()}>
        Sign out
      </button>
    </div>
  )
}

/** ConfigError is the page when /config.json cannot be used. */
export function ConfigError({ message }: { message: string }) {
  return (
    <Page title="IRIS Oculus cannot start" alert>
      <p>{message}. The deployment's configuration needs fixing; tell whoever runs this site.</p>
    </Page>
  )
}
