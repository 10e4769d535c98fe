// The 3D view: loaded lazily (three.js is its own chunk), it draws the
// organs from scene.glb and follows the viewer store.

import { useEffect, useRef, useState } from 'react'
import { useStore } from 'zustand'
import type { StoreApi } from 'zustand/vanilla'
import type { ManifestOrgan } from '../api/types'
import { formatNumber } from '../format'
import { formatSize, sizeMm } from '../state/anatomy'
import type { ClipAxis, ViewerState } from '../state/viewer'
import { CUBE_PX, OrganScene } from './scene'
import { scaleBar, VIEWS, VIEW_ORDER, type ViewName } from './views'

export interface Viewer3DProps {
  store: StoreApi<ViewerState>
  /** Fetches scene.glb (fresh URL, progress) and returns its bytes. */
  loadGlb: (onProgress: (fraction: number) => void) => Promise<ArrayBuffer>
  fileStem: string
}

type Status = { kind: 'loading'; fraction: number } | { kind: 'ready' } | { kind: 'error'; message: string }

export default function Viewer3D({ store, loadGlb, fileStem }: Viewer3DProps) {
  const host = useRef<HTMLDivElement>(null)
  const sceneRef = useRef<OrganScene | null>(null)
  const [status, setStatus] = useState<Status>({ kind: 'loading', fraction: 0 })
  const [tip, setTip] = useState<{ x: number; y: number } | null>(null)
  const [mmPerPx, setMmPerPx] = useState(0)
  const organs = useStore(store, (s) => s.organs)
  const hovered = useStore(store, (s) => s.hovered)
  const clip = useStore(store, (s) => s.clip)
  const setClip = useStore(store, (s) => s.setClip)

  useEffect(() => {
    const el = host.current
    if (!el) return
    let scene: OrganScene
    try {
      scene = new OrganScene(el)
    } catch (err) {
      setStatus({ kind: 'error', message: `This browser cannot draw 3D (WebGL): ${err instanceof Error ? err.message : String(err)}` })
      return
    }
    sceneRef.current = scene
    // Round the scale so an orbit (same distance) does not re-render React each frame.
    scene.onFrame = (v) => setMmPerPx(Number(v.toPrecision(3)))
    let cancelled = false
    const byLabel = new Map(store.getState().organs.map((o) => [o.label, o.name]))
    const apply = () => {
      const s = store.getState()
      const { visible } = scene.apply(s)
      el.dataset.visible = String(visible)
      el.dataset.outlined = scene.outlinedOrgan ?? ''
    }
    loadGlb((fraction) => !cancelled && setStatus({ kind: 'loading', fraction }))
      .then((buf) => scene.load(buf, byLabel))
      .then(() => {
        if (cancelled) return
        el.dataset.meshes = String(scene.organCount)
        apply()
        setStatus({ kind: 'ready' })
      })
      .catch((err) => !cancelled && setStatus({ kind: 'error', message: `The 3D model could not be loaded: ${err instanceof Error ? err.message : String(err)}` }))
    const unsub = store.subscribe(apply)
    return () => {
      cancelled = true
      unsub()
      scene.dispose()
      sceneRef.current = null
    }
  }, [store, loadGlb])

  // Hover: one pick per animation frame at most.
  const pending = useRef<{ x: number; y: number } | null>(null)
  const raf = useRef(0)
  const onPointerMove = (e: React.PointerEvent) => {
    if (e.pointerType !== 'mouse' || e.buttons !== 0) return
    pending.current = { x: e.clientX, y: e.clientY }
    if (raf.current) return
    raf.current = requestAnimationFrame(() => {
      raf.current = 0
      const p = pending.current
      const scene = sceneRef.current
      if (!p || !scene) return
      const name = scene.pick(p.x, p.y)
      store.getState().hover(name)
      const r = host.current?.getBoundingClientRect()
      setTip(name && r ? { x: p.x - r.left, y: p.y - r.top } : null)
    })
  }
  const down = useRef<{ x: number; y: number } | null>(null)
  const onPointerDown = (e: React.PointerEvent) => {
    down.current = { x: e.clientX, y: e.clientY }
  }
  const onPointerUp = (e: React.PointerEvent) => {
    const d = down.current
    down.current = null
    // A click, not the end of a drag: select what is under it (or clear).
    if (!d || Math.hypot(e.clientX - d.x, e.clientY - d.y) > 4 || e.button !== 0) return
    store.getState().select(sceneRef.current?.pick(e.clientX, e.clientY) ?? null)
  }
  const onPointerLeave = () => {
    store.getState().hover(null)
    setTip(null)
  }

  const screenshot = () => {
    const scene = sceneRef.current
    if (!scene) return
    const a = document.createElement('a')
    a.href = scene.screenshot()
    a.download = `${fileStem}-3d.png`
    document.body.appendChild(a)
    a.click()
    a.remove()
  }

  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return
    const view = VIEW_ORDER.find((v) => VIEWS[v].key === e.key)
    if (view) {
      sceneRef.current?.setView(view)
      e.preventDefault()
    } else if (e.key === '0') {
      sceneRef.current?.resetView()
      e.preventDefault()
    }
  }

  const hoveredOrgan: ManifestOrgan | undefined = hovered ? organs.find((o) => o.name === hovered) : undefined
  const btn =
    'min-h-6 rounded-md bg-slate-800/90 px-2 py-1 text-xs font-medium text-slate-100 hover:bg-slate-700 disabled:opacity-40 border border-slate-700'
  const bar = status.kind === 'ready' ? scaleBar(mmPerPx, 110) : null
  const menu = useRef<HTMLDetailsElement>(null)
  const view = (v: ViewName) => {
    sceneRef.current?.setView(v)
    if (menu.current) menu.current.open = false
  }
  const buttons = (
    <>
      {VIEW_ORDER.map((v) => (
        <button key={v} type="button" className={btn} disabled={status.kind !== 'ready'} onClick={() => view(v)} title={`${VIEWS[v].title} (key ${VIEWS[v].key})`}>
          {VIEWS[v].label}
        </button>
      ))}
      <button type="button" className={btn} disabled={status.kind !== 'ready'} onClick={() => sceneRef.current?.resetView()} title="Reset the view (key 0)">
        Reset view
      </button>
      <button type="button" className={btn} disabled={status.kind !== 'ready'} onClick={screenshot} data-testid="screenshot">
        Screenshot
      </button>
    </>
  )

  return (
    <section aria-label="3D model" className="relative h-full min-h-[320px] w-full overflow-hidden rounded-lg border border-slate-800" onKeyDown={onKeyDown}>
      <div
        ref={host}
        data-testid="viewer3d"
        data-status={status.kind}
        className="absolute inset-0"
        onPointerMove={onPointerMove}
        onPointerDown={onPointerDown}
        onPointerUp={onPointerUp}
        onPointerLeave={onPointerLeave}
      />
      {status.kind === 'loading' && (
        <div className="pointer-events-none absolute inset-0 grid place-items-center text-sm text-slate-300" role="status">
          Loading the 3D model… {Math.round(status.fraction * 100)}%
        </div>
      )}
      {status.kind === 'error' && (
        <div className="absolute inset-0 grid place-items-center p-6 text-center text-sm text-red-300" role="alert">
          {status.message}
        </div>
      )}
      {tip && hoveredOrgan && (
        <div
          className="pointer-events-none absolute z-10 rounded bg-slate-900/95 px-2 py-1 text-xs shadow-lg ring-1 ring-slate-700"
          style={{ left: tip.x + 14, top: tip.y + 14 }}
          role="tooltip"
        >
          <div className="font-semibold">{hoveredOrgan.displayName || hoveredOrgan.name}</div>
          <div className="text-slate-300">
            {formatNumber(hoveredOrgan.voxelVolumeMl)} mL · {formatSize(sizeMm(hoveredOrgan))}
            {hoveredOrgan.partial ? ' · partial' : ''}
          </div>
        </div>
      )}
      <div className="absolute left-2 top-2 right-2 flex" role="toolbar" aria-label="Camera">
        {/* Wide screens: every button; narrow ones: the same buttons in a menu. */}
        <div className="hidden flex-wrap gap-1 sm:flex">{buttons}</div>
        <details ref={menu} className="relative sm:hidden" data-testid="camera-menu">
          <summary className={`${btn} inline-block cursor-pointer list-none`}>Views ▾</summary>
          <div className="absolute left-0 z-20 mt-1 flex w-40 flex-col gap-1 rounded-md bg-slate-900 p-1 ring-1 ring-slate-700">{buttons}</div>
        </details>
      </div>
      {bar && (
        <div
          className="pointer-events-none absolute right-2 flex flex-col items-center text-[11px] text-slate-100"
          style={{ bottom: CUBE_PX + 18 }}
          data-testid="scale-bar"
          data-mm={bar.mm}
          aria-label={`Scale: the bar is ${bar.mm} mm at the centre of the model`}
          role="img"
        >
          <span>{bar.mm >= 10 ? `${bar.mm / 10} cm` : `${bar.mm} mm`}</span>
          <span className="block h-1.5 border-x-2 border-b-2 border-slate-100" style={{ width: bar.px }} />
        </div>
      )}
      <div
        className="absolute bottom-2 left-2 flex flex-wrap items-center gap-2 rounded-md bg-slate-900/85 px-2 py-1 text-xs ring-1 ring-slate-700"
        style={{ maxWidth: `calc(100% - ${CUBE_PX + 24}px)` }}
        role="group"
        aria-label="Clipping plane"
      >
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={clip.enabled} onChange={(e) => setClip({ enabled: e.target.checked })} />
          Clip
        </label>
        <label className="flex items-center gap-1">
          <span className="sr-only">Clipping plane</span>
          <select className="min-h-6 rounded bg-slate-800 px-1 py-0.5" value={clip.axis} onChange={(e) => setClip({ axis: e.target.value as ClipAxis, enabled: true })}>
            <option value="axial">Axial</option>
            <option value="coronal">Coronal</option>
            <option value="sagittal">Sagittal</option>
          </select>
        </label>
        <label className="flex items-center gap-1">
          <span className="sr-only">Clipping plane position</span>
          <input
            type="range"
            min={0}
            max={1}
            step={0.01}
            value={clip.position}
            onChange={(e) => setClip({ position: Number(e.target.value), enabled: true })}
            className="w-20 sm:w-28"
          />
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={clip.flip} onChange={(e) => setClip({ flip: e.target.checked })} />
          Flip
        </label>
      </div>
    </section>
  )
}
