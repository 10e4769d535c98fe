// Radiology basics for the slices: CT window presets (width and level in
// Hounsfield units, as radiology viewers name them), the readout of a point
// in patient terms, and whether a scan is thin enough that the axial view
// should take most of the space.

export interface WindowPreset {
  id: string
  label: string
  width: number
  level: number
}

/** Common CT windows (W/L in HU). */
export const WINDOWS: WindowPreset[] = [
  { id: 'soft', label: 'Soft tissue', width: 400, level: 40 },
  { id: 'lung', label: 'Lung', width: 1500, level: -600 },
  { id: 'bone', label: 'Bone', width: 1800, level: 400 },
  { id: 'brain', label: 'Brain', width: 80, level: 40 },
]

/** range turns a window into the display range NiiVue takes (cal_min, cal_max). */
export function range(w: { width: number; level: number }): [number, number] {
  return [w.level - w.width / 2, w.level + w.width / 2]
}

/** windowOf turns a display range back into width and level, rounded to whole HU. */
export function windowOf(min: number, max: number): { width: number; level: number } {
  return { width: Math.round(max - min), level: Math.round((max + min) / 2) }
}

/** presetOf names the preset a range matches (to 1 HU), or null. */
export function presetOf(min: number, max: number): WindowPreset | null {
  const w = windowOf(min, max)
  return WINDOWS.find((p) => Math.abs(p.width - w.width) <= 1 && Math.abs(p.level - w.level) <= 1) ?? null
}

/**
 * patientMm writes a point in NIfTI world millimetres (RAS+: +x toward the
 * patient's right, +y anterior, +z superior) in patient terms:
 * "R 12.3 A 40.1 S 100.0 mm".
 */
export function patientMm(mm: ArrayLike<number>): string {
  const part = (v: number, pos: string, neg: string) => `${v >= 0 ? pos : neg} ${Math.abs(v).toFixed(1)}`
  return `${part(mm[0], 'R', 'L')} ${part(mm[1], 'A', 'P')} ${part(mm[2], 'S', 'I')} mm`
}

/**
 * isThin reports whether a scan covers so little head to feet (a slab)
 * that coronal and sagittal tiles would be slivers: its extent along the
 * third axis under 60 % of the smaller in-plane extent.
 */
export function isThin(dims: ArrayLike<number>, spacingMm: ArrayLike<number>): boolean {
  const e = [0, 1, 2].map((i) => Math.abs(dims[i] * spacingMm[i]))
  if (!e.every((v) => Number.isFinite(v) && v > 0)) return false
  return e[2] < 0.6 * Math.min(e[0], e[1])
}
