import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib'
import { defineConfig, type Plugin } from 'vitest/config'
import react from '@vitejs/plugin-react'
import tailwindcss from '@tailwindcss/vite'

// The dev server proxies the API and the local signed blob URLs to a
// running `iris serve` (or the e2e mock server): IRIS_URL, default :8080.
const backend = process.env.IRIS_URL ?? 'http://127.0.0.1:8080'

// precompress writes NAME.gz (gzip, level 9) and NAME.br (brotli, quality
// 11) beside every text file of the build over 1 kB, for `iris serve` to
// send to browsers that accept them (web/embed.go); a compressed copy that
// saves less than a tenth is not written.
function precompress(): Plugin {
  let outDir = 'dist'
  return {
    name: 'iris-precompress',
    apply: 'build',
    configResolved(c) {
      outDir = resolve(c.root, c.build.outDir)
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((n) => {
          const p = join(dir, n)
          return statSync(p).isDirectory() ? walk(p) : [p]
        })
      for (const file of walk(outDir)) {
        if (!/\.(js|mjs|css|html|svg|json|txt|wasm)$/.test(file)) continue
        const data = readFileSync(file)
        if (data.length < 1024) continue
        const gz = gzipSync(data, { level: 9 })
        const br = brotliCompressSync(data, {
          params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT, [zlib.BROTLI_PARAM_SIZE_HINT]: data.length },
        })
        if (gz.length < data.length * 0.9) writeFileSync(`${file}.gz`, gz)
        if (br.length < data.length * 0.9) writeFileSync(`${file}.br`, br)
      }
    },
  }
}

export default defineConfig({
  plugins: [react(), tailwindcss(), precompress()],
  resolve: {
    alias: [
      // NiiVue reads Zarr through zarrita, whose registry imports the blosc,
      // lz4 and zstd codecs on demand: 1.4 MB of chunks the app never asks
      // for (it opens NIfTI only). They are replaced by a module that says so.
      { find: /^numcodecs\/(blosc|lz4|zstd)$/, replacement: resolve(__dirname, 'src/slices/unsupportedCodec.ts') },
    ],
  },
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
