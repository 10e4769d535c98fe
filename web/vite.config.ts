import { defineConfig } from 'vitest/config'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// The dev server proxies the API and the local signed blob URLs to a
// running `iris serve` (or the e2e mock server): IRIS_URL, default :8080.
const backend = process.env.IRIS_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    target: 'es2022',
    // NiiVue is one 1.5 MB module, loaded only when the slices open.
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { '/api': backend, '/blobs': backend },
  },
  test: {
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'node',
  },
})
