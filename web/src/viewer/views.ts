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

export const VIEWS: Record<ViewName, { dir: Vec3; label: string; key: string }> = {
  anterior: { dir: [0, 0, 1], label: 'Anterior', key: '1' },
  posterior: { dir: [0, 0, -1], label: 'Posterior', key: '2' },
  left: { dir: [1, 0, 0], label: 'Left', key: '3' },
  right: { dir: [-1, 0, 0], label: 'Right', key: '4' },
  superior: { dir: [0, 1, -LEAN], label: 'Superior', key: '5' },
  inferior: { dir: [0, -1, LEAN], label: 'Inferior', key: '6' },
}

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
