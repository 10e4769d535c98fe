import { Matrix4, Quaternion, Vector3 } from 'three'
import { describe, expect, it } from 'vitest'
import { CUBE_FACES, VIEWS, clipNormal, scaleBar, type ViewName } from './views'

// What a camera placed for each view sees: the scene axis (in the patient's
// terms) that points right, up, and toward the camera on the screen.
// Scene frame: +X patient's left, +Y superior, +Z anterior.
const names: Record<string, string> = {
  '+x': 'left',
  '-x': 'right',
  '+y': 'superior',
  '-y': 'inferior',
  '+z': 'anterior',
  '-z': 'posterior',
}

function dominant(v: Vector3): string {
  const a = [v.x, v.y, v.z].map(Math.abs)
  const i = a.indexOf(Math.max(...a))
  const sign = [v.x, v.y, v.z][i] > 0 ? '+' : '-'
  return names[sign + 'xyz'[i]]
}

function screen(view: ViewName) {
  const eye = new Vector3(...VIEWS[view].dir).multiplyScalar(2)
  const m = new Matrix4().lookAt(eye, new Vector3(), new Vector3(0, 1, 0))
  const q = new Quaternion().setFromRotationMatrix(m)
  return {
    right: dominant(new Vector3(1, 0, 0).applyQuaternion(q)),
    up: dominant(new Vector3(0, 1, 0).applyQuaternion(q)),
    camera: dominant(eye),
  }
}

describe('anatomical views', () => {
  it.each([
    // anterior: facing the patient, whose left is on the screen's right
    ['anterior', { camera: 'anterior', right: 'left', up: 'superior' }],
    ['posterior', { camera: 'posterior', right: 'right', up: 'superior' }],
    ['left', { camera: 'left', right: 'posterior', up: 'superior' }],
    ['right', { camera: 'right', right: 'anterior', up: 'superior' }],
    // from above and below, anterior at the top; from below, as an axial
    // slice in radiological convention (patient's left on the right)
    ['superior', { camera: 'superior', right: 'right', up: 'anterior' }],
    ['inferior', { camera: 'inferior', right: 'left', up: 'anterior' }],
  ] as const)('%s', (view, want) => {
    expect(screen(view)).toEqual(want)
  })
})

describe('clipNormal', () => {
  it.each([
    ['axial', false, [0, -1, 0]],
    ['axial', true, [0, 1, 0]],
    ['coronal', false, [0, 0, -1]],
    ['sagittal', false, [-1, 0, 0]],
    ['sagittal', true, [1, 0, 0]],
  ] as const)('%s flip=%s', (axis, flip, want) => {
    expect(clipNormal(axis, flip)).toEqual(want)
  })
})

describe('scaleBar', () => {
  it.each([
    [1, 120, 100, 100],
    [0.5, 120, 50, 100],
    [2.2, 120, 200, 200 / 2.2],
    [0.013, 120, 1, 1 / 0.013],
  ])('at %f mm/px (max %d px) spans %d mm', (mmPerPx, maxPx, mm, px) => {
    const b = scaleBar(mmPerPx, maxPx)
    expect(b?.mm).toBe(mm)
    expect(b?.px).toBeCloseTo(px)
    expect(b!.px).toBeLessThanOrEqual(maxPx)
  })
  it('refuses a scale that is not a positive number', () => {
    expect(scaleBar(0)).toBeNull()
    expect(scaleBar(Number.NaN)).toBeNull()
  })
})

describe('CUBE_FACES', () => {
  it('labels each scene axis with the patient direction views.ts gives it', () => {
    for (const f of CUBE_FACES) {
      const dir = [0, 0, 0] as [number, number, number]
      dir[f.axis] = f.sign
      const v = dominant(new Vector3(...dir))
      expect(v).toBe(f.name)
    }
    expect(CUBE_FACES.map((f) => f.letter).sort().join('')).toBe('AILPRS')
  })
})
