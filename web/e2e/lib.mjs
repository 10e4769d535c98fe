// What every browser e2e script shares: the tally of checks it prints, and
// Debian's Chromium launched headless with the flags these runs need.

import { createServer } from 'node:net'
import { chromium } from 'playwright-core'

/**
 * tally counts checks. check prints "ok" or "FAIL" with its detail; fail
 * counts an exception that ended the run; summary prints the totals under
 * label and returns the exit code.
 */
export function tally() {
  let passed = 0
  let failed = 0
  return {
    check(name, ok, detail = '') {
      if (ok) {
        passed++
        console.log(`ok   ${name}`)
      } else {
        failed++
        console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`)
      }
    },
    fail(err) {
      failed++
      console.log(`FAIL ${err instanceof Error ? err.stack : String(err)}`)
    },
    get failed() {
      return failed
    },
    summary(label) {
      console.log(`${label}: ${passed} passed, ${failed} failed`)
      return failed > 0 ? 1 : 0
    },
  }
}

// Chromium's flags for these runs: no sandbox (CI containers run as root),
// nothing fetched beside the page under test, and WebGL without a GPU
// through SwiftShader, so three.js and NiiVue draw.
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
]

/** chromiumPath is the browser the scripts drive: $CHROMIUM or Debian's. */
export const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium'

/**
 * launch starts headless Chromium on a fresh profile folder at 1280×800;
 * options go to playwright's launchPersistentContext, and options.args
 * add to the common flags.
 */
export function launch(profile, { args = [], ...options } = {}) {
  return chromium.launchPersistentContext(profile, {
    viewport: { width: 1280, height: 800 },
    executablePath: chromiumPath,
    headless: true,
    ...options,
    args: [...chromiumArgs, ...args],
  })
}

/** freePort asks the kernel for a free loopback port. */
export const freePort = () =>
  new Promise((res, rej) => {
    const s = createServer()
    s.once('error', rej)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
