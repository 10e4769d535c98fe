// Where the tests find the project's real test data (testdata/ at the
// repository root); IRIS_SHARED_DATA overrides it.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

export function dataDir(): string {
  const dir = process.env.IRIS_SHARED_DATA ?? resolve(here, '../../../testdata')
  if (!existsSync(join(dir, 'totalsegmentator-example'))) {
    throw new Error(`test data not found in ${dir}: the repository's testdata/ is missing; set IRIS_SHARED_DATA`)
  }
  return dir
}

export function dataPath(...parts: string[]): string {
  return join(dataDir(), ...parts)
}

export function readData(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(dataPath(...parts)))
}
