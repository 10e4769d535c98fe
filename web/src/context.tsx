// The app's long-lived objects: the API client and the stores that outlive
// a page (the upload in progress, the job list).
import { createContext, useContext, useState, type ReactNode } from 'react'
import type { StoreApi } from 'zustand/vanilla'
import { ApiClient } from './api/client'
import type { Auth } from './auth/auth'
import { createJobListStore, type JobListState } from './state/jobs'
import { createUploadStore, type UploadState } from './state/upload'

export interface AppServices {
  client: ApiClient
  jobs: StoreApi<JobListState>
  upload: StoreApi<UploadState>
  /** Sign-in, when /config.json names a provider; null runs without. */
  auth: Auth | null
}

const Ctx = createContext<AppServices | null>(null)

// The API's origin comes from /config.json's apiUrl (see main.tsx), else
// VITE_API_BASE (build time), else the page's own.
export function makeServices(client = new ApiClient({ base: import.meta.env.VITE_API_BASE ?? '' }), auth: Auth | null = null): AppServices {
  return { client, jobs: createJobListStore(client), upload: createUploadStore({ client }), auth }
}

export function ServicesProvider({ children, services }: { children: ReactNode; services?: AppServices }) {
  const [value] = useState(() => services ?? makeServices())
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>
}

export function useServices(): AppServices {
  const v = useContext(Ctx)
  if (!v) throw new Error('useServices outside ServicesProvider')
  return v
}
