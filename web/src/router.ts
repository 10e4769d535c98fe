// A two-route router over the History API: "/" and "/jobs/{id}". The Go
// handler serves index.html for any path without an extension, so deep
// links load the app.
import { useSyncExternalStore } from 'react'

export type Route = { page: 'home' } | { page: 'job'; id: string } | { page: 'missing'; path: string }

export function parseRoute(path: string): Route {
  if (path === '/' || path === '') return { page: 'home' }
  const m = /^\/jobs\/([A-Za-z0-9_-]+)\/?$/.exec(path)
  if (m) return { page: 'job', id: m[1] }
  return { page: 'missing', path }
}

const listeners = new Set<() => void>()

function subscribe(fn: () => void) {
  listeners.add(fn)
  window.addEventListener('popstate', fn)
  return () => {
    listeners.delete(fn)
    window.removeEventListener('popstate', fn)
  }
}

export function navigate(path: string) {
  if (path === window.location.pathname) return
  window.history.pushState(null, '', path)
  window.scrollTo(0, 0)
  for (const fn of listeners) fn()
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname)
}

/** linkProps makes an <a> navigate in the app on a plain click. */
export function linkProps(path: string) {
  return {
    href: path,
    onClick: (e: React.MouseEvent<HTMLAnchorElement>) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
      e.preventDefault()
      navigate(path)
    },
  }
}
