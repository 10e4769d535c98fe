// Anatomical camera positions in scene.glb's frame, which is glTF Y-up in
// metres with +X toward the patient's left, +Y superior and +Z anterior
// (internal/export: (X, Y, Z) = (−x, z, y) / 1000 from RAS+ mm).
//
// dir points from the target to the camera. The camera's up stays +Y, as
// OrbitControls expects; the views from above and below lean a hair so
// that anterior is at the top of the screen, as on an axial slice, instead
// of the view being undefined at the pole.

export type ViewName = 'anterior' | 'posterior' | 'left' | 'right' | 'superior' | 'inferior'

export type Vec3 = [number, number, number]

const LEAN = 1e-3

// Each view is named from the patient's side the camera stands on, so
// "Patient's left" cannot be read as the screen's left.
export const VIEWS: Record<ViewName, { dir: Vec3; label: string; title: string; key: string }> = {
  anterior: { dir: [0, 0, 1], label: 'Front', title: "From the front (anterior): the patient's right on the screen's left", key: '1' },
  posterior: { dir: [0, 0, -1], label: 'Back', title: 'From behind (posterior)', key: '2' },
  left: { dir: [1, 0, 0], label: "Patient's left", title: "From the patient's left side", key: '3' },
  right: { dir: [-1, 0, 0], label: "Patient's right", title: "From the patient's right side", key: '4' },
  superior: { dir: [0, 1, -LEAN], label: 'Head', title: 'From above the head (superior), front at the top', key: '5' },
  inferior: { dir: [0, -1, LEAN], label: 'Feet', title: 'From below the feet (inferior), as an axial slice is read', key: '6' },
}

/**
 * scaleBar picks a round length (1, 2 or 5 × 10ⁿ mm) that spans at most
 * maxPx pixels at mmPerPx, and its length in pixels; null when none fits.
 */
export function scaleBar(mmPerPx: number, maxPx = 120): { mm: number; px: number } | null {
  if (!Number.isFinite(mmPerPx) || mmPerPx <= 0) return null
  const most = mmPerPx * maxPx
  const p = 10 ** Math.floor(Math.log10(most))
  const mm = [5, 2, 1].map((m) => m * p).find((m) => m <= most) ?? p
  return { mm, px: mm / mmPerPx }
}

/** The faces of the orientation cube: the patient's direction each scene axis points to. */
export const CUBE_FACES: { axis: 0 | 1 | 2; sign: 1 | -1; letter: string; name: string }[] = [
  { axis: 0, sign: 1, letter: 'L', name: 'left' },
  { axis: 0, sign: -1, letter: 'R', name: 'right' },
  { axis: 1, sign: 1, letter: 'S', name: 'superior' },
  { axis: 1, sign: -1, letter: 'I', name: 'inferior' },
  { axis: 2, sign: 1, letter: 'A', name: 'anterior' },
  { axis: 2, sign: -1, letter: 'P', name: 'posterior' },
]

export const VIEW_ORDER: ViewName[] = ['anterior', 'posterior', 'left', 'right', 'superior', 'inferior']

export type ClipAxisName = 'axial' | 'coronal' | 'sagittal'

/**
 * clipNormal is the normal of the clipping plane for an axis: three.js
 * keeps what lies on the normal's side. Unflipped, the cut removes the
 * superior part (axial), the anterior part (coronal) or the patient's left
 * (sagittal), so the default views look into the cut.
 */
export function clipNormal(axis: ClipAxisName, flip: boolean): Vec3 {
  const s = flip ? 1 : -1
  switch (axis) {
    case 'axial':
      return [0, s, 0]
    case 'coronal':
      return [0, 0, s]
    case 'sagittal':
      return [s, 0, 0]
  }
}

/** clipIndex is the scene axis an anatomical plane cuts across. */
export function clipIndex(axis: ClipAxisName): 0 | 1 | 2 {
  return axis === 'sagittal' ? 0 : axis === 'axial' ? 1 : 2
}
