import { JobList } from './components/JobList'
import { JobPage } from './components/JobPage'
import { UploadPanel } from './components/UploadPanel'
import { UserMenu } from './auth/AuthGate'
import { linkProps, parseRoute, usePath } from './router'

export function App() {
  const route = parseRoute(usePath())
  return (
    <div className="flex h-full flex-col">
      <a
        href="#main"
        className="sr-only z-50 rounded-md bg-slate-100 px-3 py-2 text-slate-900 focus:not-sr-only focus:absolute focus:left-2 focus:top-2"
        onClick={(e) => {
          e.preventDefault()
          document.getElementById('main')?.focus()
        }}
      >
        Skip to content
      </a>
      <header className="flex h-12 shrink-0 items-center gap-3 border-b border-slate-800 bg-slate-900 px-4">
        <a {...linkProps('/')} className="flex items-center gap-2 font-semibold tracking-wide">
          <img src="/favicon.svg" alt="" className="h-6 w-6" />
          IRIS Oculus
        </a>
        <span className="hidden text-sm text-slate-300 sm:inline">CT in, organ models out</span>
        <UserMenu />
      </header>
      <main id="main" tabIndex={-1} className="min-h-0 flex-1 overflow-auto outline-none">
        {route.page === 'home' && (
          <div className="mx-auto grid max-w-5xl gap-6 p-4 sm:p-6 md:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
            <h1 className="text-xl font-semibold md:col-span-2">Your CT scans, as 3D organ models</h1>
            <UploadPanel />
            <JobList />
          </div>
        )}
        {route.page === 'job' && <JobPage key={route.id} id={route.id} />}
        {route.page === 'missing' && (
          <div className="mx-auto max-w-2xl p-6">
            <h1 className="mb-2 text-xl font-semibold">Page not found</h1>
            <p>There is no page at {route.path}.</p>
            <a {...linkProps('/')} className="text-sky-300 underline">
              Back to your scans
            </a>
          </div>
        )}
      </main>
    </div>
  )
}
