import { JobList } from './components/JobList'
import { JobPage } from './components/JobPage'
import { UploadPanel } from './components/UploadPanel'
import { UserMenu } from './auth/AuthGate'
import { linkProps, parseRoute, usePath } from './router'

export function App() {
  const route = parseRoute(usePath())
  return (
    <div className="flex h-full flex-col">
      <header className="flex h-12 shrink-0 items-center gap-3 border-b border-slate-800 bg-slate-900 px-4">
        <a {...linkProps('/')} className="flex items-center gap-2 font-semibold tracking-wide">
          <img src="/favicon.svg" alt="" className="h-6 w-6" />
          IRIS Oculus
        </a>
        <span className="hidden text-sm text-slate-400 sm:inline">CT in, organ models out</span>
        <UserMenu />
      </header>
      <div className="min-h-0 flex-1 overflow-auto">
        {route.page === 'home' && (
          <main className="mx-auto grid max-w-5xl gap-6 p-6 md:grid-cols-[minmax(0,1fr)_minmax(0,1fr)]">
            <UploadPanel />
            <JobList />
          </main>
        )}
        {route.page === 'job' && <JobPage key={route.id} id={route.id} />}
        {route.page === 'missing' && (
          <main className="mx-auto max-w-2xl p-6">
            <p>There is no page at {route.path}.</p>
            <a {...linkProps('/')} className="text-sky-300 underline">
              Back to your scans
            </a>
          </main>
        )}
      </div>
    </div>
  )
}
