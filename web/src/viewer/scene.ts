// OrganScene draws scene.glb with three.js: one mesh per organ, each in the
// look the viewer store gives it, orbit controls, anatomical views, a
// clipping plane, picking and screenshots, an outline around the selected
// organ and an orientation cube (R/L A/P S/I) in the corner. It renders on demand (after a
// change or a camera move), not in a loop, so an idle viewer costs nothing.

import {
  AmbientLight,
  BackSide,
  BoxGeometry,
  CanvasTexture,
  Box3,
  Color,
  DirectionalLight,
  DoubleSide,
  Mesh,
  MeshBasicMaterial,
  MeshStandardMaterial,
  OrthographicCamera,
  type Object3D,
  PerspectiveCamera,
  Plane,
  Raycaster,
  Scene,
  SRGBColorSpace,
  Vector2,
  Vector3,
  WebGLRenderer,
} from 'three'
import { GLTFLoader } from 'three/examples/jsm/loaders/GLTFLoader.js'
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js'
import type { Clip, OrganLook } from '../state/viewer'
import { CUBE_FACES, VIEWS, clipIndex, clipNormal, type ViewName } from './views'

export interface SceneLooks {
  looks: Record<string, OrganLook>
  selected: string | null
  hovered: string | null
  clip: Clip
}

interface OrganMesh {
  name: string
  mesh: Mesh
  material: MeshStandardMaterial
}

const BACKGROUND = new Color('#0b1220')
const SELECT_GLOW = 0.35
const HOVER_GLOW = 0.2
/** The orientation cube's side on the canvas, CSS pixels. */
export const CUBE_PX = 72
/** The selected organ's outline: its back faces pushed out along the normals by this share of the model's size. */
const OUTLINE = 0.004

export class OrganScene {
  readonly renderer: WebGLRenderer
  private readonly scene = new Scene()
  private readonly camera = new PerspectiveCamera(30, 1, 0.001, 100)
  private readonly controls: OrbitControls
  private readonly organs = new Map<string, OrganMesh>()
  private readonly box = new Box3()
  private readonly plane = new Plane(new Vector3(0, -1, 0), 0)
  private readonly raycaster = new Raycaster()
  private readonly resize: ResizeObserver
  private frame = 0
  private disposed = false
  private clipOn = false
  /** The view last framed, until the person moves the camera: a resize reframes it. */
  private framed: ViewName | null = null
  private readonly cubeScene = new Scene()
  private readonly cubeCamera = new OrthographicCamera(-1.1, 1.1, 1.1, -1.1, 0.1, 10)
  private readonly outline: MeshBasicMaterial
  private outlined: Mesh | null = null
  /** Called after each frame with the scale at the camera's target, mm per CSS pixel. */
  onFrame: ((mmPerPx: number) => void) | null = null

  constructor(private readonly host: HTMLElement) {
    // preserveDrawingBuffer: the screenshot button reads the canvas back.
    this.renderer = new WebGLRenderer({ antialias: true, preserveDrawingBuffer: true, alpha: false })
    this.renderer.outputColorSpace = SRGBColorSpace
    this.renderer.localClippingEnabled = true
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2))
    this.renderer.setClearColor(BACKGROUND, 1)
    const canvas = this.renderer.domElement
    canvas.style.display = 'block'
    canvas.style.width = '100%'
    canvas.style.height = '100%'
    canvas.setAttribute('aria-label', '3D view of the organs: drag to rotate, right-drag or arrow keys to pan, wheel to zoom')
    canvas.setAttribute('role', 'img')
    canvas.tabIndex = 0
    host.appendChild(canvas)

    this.scene.add(new AmbientLight(0xffffff, 0.9))
    const head = new DirectionalLight(0xffffff, 2.2) // a headlight: it follows the camera
    head.position.set(0.3, 0.5, 1)
    this.camera.add(head)
    const fill = new DirectionalLight(0xffffff, 0.6)
    fill.position.set(-0.5, -0.3, -1)
    this.camera.add(fill)
    this.scene.add(this.camera)

    this.controls = new OrbitControls(this.camera, canvas)
    this.controls.enableDamping = false
    this.controls.screenSpacePanning = true
    this.controls.listenToKeyEvents(canvas)
    this.controls.addEventListener('change', () => this.requestRender())
    this.controls.addEventListener('start', () => (this.framed = null))

    this.cubeScene.add(orientationCube())
    this.outline = outlineMaterial()

    this.resize = new ResizeObserver(() => this.fitCanvas())
    this.resize.observe(host)
    this.fitCanvas()
  }

  /** load parses a GLB and keeps every mesh, by organ name. */
  async load(glb: ArrayBuffer, organNames: Map<number, string>): Promise<void> {
    const gltf = await new GLTFLoader().parseAsync(glb, '')
    gltf.scene.traverse((obj: Object3D) => {
      if (!(obj instanceof Mesh)) return
      const name = organName(obj, organNames)
      if (!name || this.organs.has(name)) return
      const material = new MeshStandardMaterial({ roughness: 0.55, metalness: 0, side: DoubleSide })
      const old = obj.material
      ;(Array.isArray(old) ? old : [old]).forEach((m) => m.dispose())
      obj.material = material
      obj.userData.organ = name
      this.organs.set(name, { name, mesh: obj, material })
    })
    this.scene.add(gltf.scene)
    gltf.scene.updateMatrixWorld(true)
    this.box.setFromObject(gltf.scene)
    this.outline.userData.width.value = OUTLINE * this.box.getSize(new Vector3()).length()
    this.resetView()
  }

  get organCount(): number {
    return this.organs.size
  }

  /** apply shows the store's looks: visibility, colour, opacity, highlight, clipping. */
  apply(s: SceneLooks): { visible: number } {
    let visible = 0
    this.updateClip(s.clip)
    for (const o of this.organs.values()) {
      const look = s.looks[o.name]
      const show = look ? look.visible && look.opacity > 0 : true
      o.mesh.visible = show
      if (show) visible++
      if (!look) continue
      o.material.color.set(look.color)
      const transparent = look.opacity < 1
      if (o.material.transparent !== transparent) o.material.needsUpdate = true
      o.material.transparent = transparent
      o.material.opacity = look.opacity
      o.material.depthWrite = !transparent
      const glow = o.name === s.selected ? SELECT_GLOW : o.name === s.hovered ? HOVER_GLOW : 0
      o.material.emissive.set(look.color).multiplyScalar(glow)
      const planes = this.clipOn ? [this.plane] : []
      if (o.material.clippingPlanes?.length !== planes.length) {
        o.material.clippingPlanes = planes
        o.material.needsUpdate = true
      }
      // Draw see-through organs after the opaque ones, the faintest last.
      o.mesh.renderOrder = transparent ? 1 + (1 - look.opacity) : 0
    }
    this.setOutline(s.selected ? this.organs.get(s.selected) : undefined, s.clip)
    this.requestRender()
    return { visible }
  }

  /** setOutline draws a light hull behind the selected organ, so it stands out from its neighbours. */
  private setOutline(o: OrganMesh | undefined, c: Clip) {
    const want = o && o.mesh.visible ? o.mesh : null
    if (this.outlined && this.outlined.parent !== want) {
      this.outlined.removeFromParent()
      this.outlined = null
    }
    if (want && !this.outlined) {
      this.outlined = new Mesh(want.geometry, this.outline)
      this.outlined.raycast = () => {} // never picked
      this.outlined.renderOrder = -1
      want.add(this.outlined)
    }
    const planes = c.enabled && this.clipOn ? [this.plane] : []
    if (this.outline.clippingPlanes?.length !== planes.length) {
      this.outline.clippingPlanes = planes
      this.outline.needsUpdate = true
    }
  }

  /** selectedOutlined reports whether an outline is drawn (for tests). */
  get outlinedOrgan(): string | null {
    return (this.outlined?.parent?.userData.organ as string | undefined) ?? null
  }

  private updateClip(c: Clip) {
    this.clipOn = c.enabled && !this.box.isEmpty()
    if (!this.clipOn) return
    const i = clipIndex(c.axis)
    const min = this.box.min.getComponent(i)
    const max = this.box.max.getComponent(i)
    const at = min + c.position * (max - min)
    const n = new Vector3(...clipNormal(c.axis, c.flip))
    this.plane.normal.copy(n)
    // Points p with n·p + constant ≥ 0 stay.
    this.plane.constant = -n.getComponent(i) * at
  }

  /** setView puts the camera on one anatomical side of the model, framing it. */
  setView(view: ViewName) {
    if (this.box.isEmpty()) return
    const center = this.box.getCenter(new Vector3())
    const dir = new Vector3(...VIEWS[view].dir).normalize()
    this.camera.up.set(0, 1, 0)
    this.camera.position.copy(center).add(dir)
    this.camera.lookAt(center)
    const dist = this.fitDistance(center)
    this.camera.position.copy(center).addScaledVector(dir, dist)
    this.camera.near = dist / 100
    this.camera.far = dist * 20
    this.camera.updateProjectionMatrix()
    this.controls.minDistance = dist / 20
    this.controls.maxDistance = dist * 6
    this.controls.target.copy(center)
    this.controls.update()
    this.framed = view
    this.requestRender()
  }

  /** resetView frames the whole model from the front. */
  resetView() {
    this.setView('anterior')
  }

  /**
   * fitDistance is how far from center the camera, as oriented now, must be
   * for the model's box to fill the view with a margin: the box's corners
   * in camera axes give the half width, half height and half depth seen.
   */
  private fitDistance(center: Vector3): number {
    const inv = this.camera.quaternion.clone().invert()
    let w = 1e-3
    let h = 1e-3
    let d = 0
    for (let i = 0; i < 8; i++) {
      const p = new Vector3(i & 1 ? this.box.max.x : this.box.min.x, i & 2 ? this.box.max.y : this.box.min.y, i & 4 ? this.box.max.z : this.box.min.z)
      p.sub(center).applyQuaternion(inv)
      w = Math.max(w, Math.abs(p.x))
      h = Math.max(h, Math.abs(p.y))
      d = Math.max(d, Math.abs(p.z))
    }
    const tanV = Math.tan((this.camera.fov * Math.PI) / 360)
    const tanH = tanV * this.camera.aspect
    return 1.15 * Math.max(w / tanH, h / tanV) + d
  }

  /** pick returns the organ under a point of the canvas (client pixels), skipping clipped parts. */
  pick(clientX: number, clientY: number): string | null {
    const rect = this.renderer.domElement.getBoundingClientRect()
    if (rect.width === 0 || rect.height === 0) return null
    const ndc = new Vector2(((clientX - rect.left) / rect.width) * 2 - 1, -((clientY - rect.top) / rect.height) * 2 + 1)
    this.raycaster.setFromCamera(ndc, this.camera)
    const meshes = [...this.organs.values()].filter((o) => o.mesh.visible).map((o) => o.mesh)
    // A faint organ (the body's skin) is picked only when nothing solid lies behind it.
    let faint: string | null = null
    for (const hit of this.raycaster.intersectObjects(meshes, false)) {
      if (this.clipOn && this.plane.distanceToPoint(hit.point) < 0) continue
      const name = (hit.object.userData.organ as string) ?? null
      const m = name ? this.organs.get(name)?.material : undefined
      if (m && m.transparent && m.opacity < 0.5) {
        faint ??= name
        continue
      }
      return name
    }
    return faint
  }

  /** screenshot renders a frame now and returns it as a PNG data URL. */
  screenshot(): string {
    this.render()
    return this.renderer.domElement.toDataURL('image/png')
  }

  requestRender() {
    if (this.frame || this.disposed) return
    this.frame = requestAnimationFrame(() => {
      this.frame = 0
      this.render()
    })
  }

  private render() {
    if (this.disposed) return
    const r = this.renderer
    r.render(this.scene, this.camera)
    // The orientation cube, turned as the model is, in the bottom-right corner.
    const w = this.host.clientWidth
    const h = this.host.clientHeight
    if (w > CUBE_PX * 2 && h > CUBE_PX * 2) {
      this.cubeCamera.position.set(0, 0, 3).applyQuaternion(this.camera.quaternion)
      this.cubeCamera.quaternion.copy(this.camera.quaternion)
      r.autoClear = false
      r.clearDepth()
      r.setScissorTest(true)
      r.setScissor(w - CUBE_PX - 8, 8, CUBE_PX, CUBE_PX)
      r.setViewport(w - CUBE_PX - 8, 8, CUBE_PX, CUBE_PX)
      r.render(this.cubeScene, this.cubeCamera)
      r.setScissorTest(false)
      r.setViewport(0, 0, w, h)
      r.autoClear = true
    }
    if (this.onFrame && h > 0) {
      const dist = this.camera.position.distanceTo(this.controls.target)
      const visibleM = 2 * dist * Math.tan((this.camera.fov * Math.PI) / 360)
      this.onFrame((visibleM * 1000) / h)
    }
  }

  private fitCanvas() {
    const w = this.host.clientWidth
    const h = this.host.clientHeight
    if (w === 0 || h === 0) return
    this.renderer.setSize(w, h, false)
    this.camera.aspect = w / h
    this.camera.updateProjectionMatrix()
    if (this.framed) this.setView(this.framed)
    this.requestRender()
  }

  dispose() {
    this.disposed = true
    if (this.frame) cancelAnimationFrame(this.frame)
    this.resize.disconnect()
    this.controls.dispose()
    for (const o of this.organs.values()) {
      o.mesh.geometry.dispose()
      o.material.dispose()
    }
    this.outline.dispose()
    this.cubeScene.traverse((obj) => {
      if (!(obj instanceof Mesh)) return
      obj.geometry.dispose()
      ;(obj.material as MeshBasicMaterial[]).forEach((m) => {
        m.map?.dispose()
        m.dispose()
      })
    })
    this.organs.clear()
    this.renderer.dispose()
    this.renderer.domElement.remove()
  }
}

/**
 * organName finds the organ a mesh draws: the node's label (glTF extras)
 * through the manifest, else the node's name, which internal/export sets to
 * the organ's machine name.
 */
function organName(mesh: Mesh, byLabel: Map<number, string>): string | null {
  for (let o: Object3D | null = mesh; o; o = o.parent) {
    const label = o.userData?.label
    if (typeof label === 'number' && byLabel.has(label)) return byLabel.get(label) ?? null
  }
  return mesh.name || mesh.parent?.name || null
}

/** outlineMaterial: the back faces pushed out along their normals, unlit, so a rim shows around the organ. */
function outlineMaterial(): MeshBasicMaterial {
  const m = new MeshBasicMaterial({ color: '#fde047', side: BackSide })
  const width = { value: 0.001 }
  m.userData.width = width
  m.onBeforeCompile = (shader) => {
    shader.uniforms.outlineWidth = width
    shader.vertexShader = shader.vertexShader
      .replace('void main() {', 'uniform float outlineWidth;\nvoid main() {')
      .replace('#include <begin_vertex>', '#include <begin_vertex>\ntransformed += normalize(normal) * outlineWidth;')
  }
  return m
}

/** orientationCube: a unit cube whose faces name the patient's directions (scene frame: +X left, +Y superior, +Z anterior). */
function orientationCube(): Mesh {
  // BoxGeometry's material order: +X, −X, +Y, −Y, +Z, −Z.
  const order: [number, number][] = [
    [0, 1],
    [0, -1],
    [1, 1],
    [1, -1],
    [2, 1],
    [2, -1],
  ]
  const materials = order.map(([axis, sign]) => {
    const f = CUBE_FACES.find((x) => x.axis === axis && x.sign === sign)
    const c = document.createElement('canvas')
    c.width = c.height = 64
    const g = c.getContext('2d')
    if (g) {
      g.fillStyle = axis === 0 ? '#7f1d1d' : axis === 1 ? '#1e3a8a' : '#14532d'
      g.fillRect(0, 0, 64, 64)
      g.strokeStyle = '#e2e8f0'
      g.lineWidth = 3
      g.strokeRect(1.5, 1.5, 61, 61)
      g.fillStyle = '#ffffff'
      g.font = 'bold 40px sans-serif'
      g.textAlign = 'center'
      g.textBaseline = 'middle'
      g.fillText(f?.letter ?? '?', 32, 34)
    }
    const t = new CanvasTexture(c)
    t.colorSpace = SRGBColorSpace
    return new MeshBasicMaterial({ map: t })
  })
  return new Mesh(new BoxGeometry(1.2, 1.2, 1.2), materials)
}
