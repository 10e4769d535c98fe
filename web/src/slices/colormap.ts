// The label map's colours for NiiVue: each organ's label in its (current)
// colour, hidden organs and the background transparent, so the slices
// agree with the 3D view. The structures that wrap everything (the body,
// fat, muscle) are left out: over the whole body they wash out the CT.

import type { ManifestOrgan } from '../api/types'
import { isEnvelope } from '../state/anatomy'
import type { OrganLook } from '../state/viewer'

export interface LabelColormap {
  R: number[]
  G: number[]
  B: number[]
  A: number[]
  I: number[]
  labels: string[]
}

function rgb(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex)
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : [200, 200, 200]
}

/**
 * labelColormap lists every label from 0 to the largest organ label (NiiVue
 * indexes its lookup table by value): organs in colour, the rest clear.
 */
export function labelColormap(organs: ManifestOrgan[], looks: Record<string, OrganLook>): LabelColormap {
  const max = organs.reduce((m, o) => Math.max(m, o.label), 0)
  const cm: LabelColormap = { R: [], G: [], B: [], A: [], I: [], labels: [] }
  const byLabel = new Map(organs.map((o) => [o.label, o]))
  for (let v = 0; v <= max; v++) {
    const o = byLabel.get(v)
    const look = o ? looks[o.name] : undefined
    const [r, g, b] = rgb(look?.color ?? o?.color ?? '#000000')
    cm.I.push(v)
    cm.R.push(r)
    cm.G.push(g)
    cm.B.push(b)
    cm.A.push(o && !isEnvelope(o.name) && (look?.visible ?? true) ? 255 : 0)
    cm.labels.push(o ? o.displayName || o.name : '')
  }
  return cm
}
