import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { ApiClient } from './api/client'
import { App } from './App'
import { Auth } from './auth/auth'
import { AuthGate, ConfigError } from './auth/AuthGate'
import { loadConfig } from './config'
import { makeServices, ServicesProvider } from './context'
import './index.css'

const root = document.getElementById('root')
if (!root) throw new Error('no #root element')
const reactRoot = createRoot(root)

// /config.json first: it says where the API is and whether to sign in.
async function boot() {
  const config = await loadConfig(fetch, import.meta.env.VITE_API_BASE ?? '')
  const auth = config.oidc ? new Auth(config.oidc) : null
  const services = makeServices(new ApiClient({ base: config.apiUrl, auth: auth ?? undefined }), auth)
  reactRoot.render(
    <StrictMode>
      <ServicesProvider services={services}>
        <AuthGate>
          <App />
        </AuthGate>
      </ServicesProvider>
    </StrictMode>,
  )
  await auth?.start()
}

boot().catch((err: unknown) => {
  reactRoot.render(<ConfigError message={err instanceof Error ? err.message : String(err)} />)
})
