// Where the tests find the project's shared real data (../shared/data from
// the repository root); IRIS_SHARED_DATA overrides it.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

export function dataDir(): string {
  const dir = process.env.IRIS_SHARED_DATA ?? resolve(here, '../../../../shared/data')
  if (!existsSync(join(dir, 'totalsegmentator-example'))) {
    throw new Error(`test data not found in ${dir}: check out shared/ beside the repository, or set IRIS_SHARED_DATA`)
  }
  return dir
}

export function dataPath(...parts: string[]): string {
  return join(dataDir(), ...parts)
}

export function readData(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(dataPath(...parts)))
}
