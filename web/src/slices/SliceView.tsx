// Slices of the CT with the label map over it, drawn by NiiVue. This module
// (and NiiVue with it) is loaded only when the slices are first shown.
// Radiology basics: HU and patient millimetres under the pointer, the slice
// number, window presets and right- or Shift-drag to adjust the window
// (NiiVue's windowing drag), a 1 px crosshair, and on thin scans a layout
// that gives the axial view most of the space (NiiVue's hero image).
// NiiVue fetches nothing by itself here: the volumes are fetched by the app
// from the job's own artifact URLs and handed over as buffers; its font and
// colour maps are compiled into the package.

import { DRAG_MODE, Niivue, SHOW_RENDER, SLICE_TYPE } from '@niivue/niivue'
import { useEffect, useRef, useState } from 'react'
import { useStore } from 'zustand'
import type { StoreApi } from 'zustand/vanilla'
import type { ViewerState } from '../state/viewer'
import { labelColormap } from './colormap'
import { isThin, patientMm, presetOf, range, WINDOWS, windowOf } from './window'

export interface SliceViewProps {
  store: StoreApi<ViewerState>
  /** Fetches an artifact's bytes by name ("ct.nii.gz", "labels.nii.gz"). */
  fetchArtifact: (name: string) => Promise<ArrayBuffer>
  hasCT: boolean
}

type Layout = 'hero' | 'multi' | 'axial' | 'coronal' | 'sagittal'

const HERO_FRACTION = 0.62

const LAYOUTS: { id: Layout; label: string; type: SLICE_TYPE }[] = [
  { id: 'hero', label: 'Axial large', type: SLICE_TYPE.MULTIPLANAR },
  { id: 'multi', label: 'All three', type: SLICE_TYPE.MULTIPLANAR },
  { id: 'axial', label: 'Axial', type: SLICE_TYPE.AXIAL },
  { id: 'coronal', label: 'Coronal', type: SLICE_TYPE.CORONAL },
  { id: 'sagittal', label: 'Sagittal', type: SLICE_TYPE.SAGITTAL },
]

type Status = { kind: 'loading' } | { kind: 'ready' } | { kind: 'error'; message: string }

interface LabelVolume {
  setColormapLabel(cm: ReturnType<typeof labelColormap>): void
}

interface Readout {
  hu: number | null
  mm: string
  organ: string
}

const DEFAULT_WINDOW = range(WINDOWS[0])

export default function SliceView({ store, fetchArtifact, hasCT }: SliceViewProps) {
  const canvas = useRef<HTMLCanvasElement>(null)
  const nvRef = useRef<Niivue | null>(null)
  const [status, setStatus] = useState<Status>({ kind: 'loading' })
  const [layout, setLayout] = useState<Layout>('multi')
  const [opacity, setOpacity] = useState(0.35)
  const [under, setUnder] = useState('')
  const [win, setWin] = useState<[number, number]>(DEFAULT_WINDOW)
  const [readout, setReadout] = useState<Readout | null>(null)
  const [slice, setSlice] = useState('')
  const selected = useStore(store, (s) => s.selected)
  // The organ last picked on a slice: its selection must not move the crosshair away from the click.
  const picked = useRef<string | null>(null)

  useEffect(() => {
    const el = canvas.current
    if (!el) return
    let cancelled = false
    const nv = new Niivue({
      backColor: [0.043, 0.071, 0.125, 1],
      crosshairColor: [0.98, 0.8, 0.1, 0.9],
      // NiiVue draws the crosshair as bars whose width is in mm here; the
      // width is set to one screen pixel's worth (fitCrosshair) once the
      // volume and the canvas size are known.
      crosshairWidthUnit: 'mm',
      crosshairWidth: 1,
      // Left click moves the crosshair; right- or Shift-drag sets the window
      // (up/down the level, left/right the width), as in radiology viewers.
      mouseEventConfig: {
        leftButton: { primary: DRAG_MODE.crosshair, withShift: DRAG_MODE.windowing },
        rightButton: DRAG_MODE.windowing,
        centerButton: DRAG_MODE.pan,
      },
      show3Dcrosshair: false,
      isColorbar: false,
      isOrientCube: false,
      multiplanarShowRender: SHOW_RENDER.NEVER,
      loadingText: '',
      logLevel: 'warn',
      dragAndDropEnabled: false,
      // CT is read in radiological convention: the patient's right on the
      // screen's left, as in the 3D view from the front.
      isRadiologicalConvention: true,
    })
    nvRef.current = nv
    const labelsIndex = hasCT ? 1 : 0
    const load = async () => {
      await nv.attachToCanvas(el)
      const [ct, labels] = await Promise.all([hasCT ? fetchArtifact('ct.nii.gz') : Promise.resolve(null), fetchArtifact('labels.nii.gz')])
      if (cancelled) return
      // NiiVue takes an ArrayBuffer in place of a URL (loadVolumes drops
      // the documented buffer option), and the name tells it the format.
      const vols = []
      if (ct) vols.push({ url: ct as unknown as string, name: 'ct.nii.gz', colormap: 'gray', cal_min: DEFAULT_WINDOW[0], cal_max: DEFAULT_WINDOW[1] })
      vols.push({ url: labels as unknown as string, name: 'labels.nii.gz', opacity: hasCT ? opacity : 1 })
      await nv.loadVolumes(vols)
      if (cancelled) return
      const s = store.getState()
      ;(nv.volumes[labelsIndex] as unknown as LabelVolume).setColormapLabel(labelColormap(s.organs, s.looks))
      nv.updateGLVolume()
      const h = nv.volumes[0].hdr
      const thin = !!h && isThin(h.dims.slice(1, 4), h.pixDims.slice(1, 4))
      setLayout(thin ? 'hero' : 'multi')
      fitCrosshair()
      showSlice()
      setStatus({ kind: 'ready' })
    }
    load().catch((err) => !cancelled && setStatus({ kind: 'error', message: `The slices could not be loaded: ${err instanceof Error ? err.message : String(err)}` }))

    // A 1 px crosshair: the scan's largest extent over the canvas's smaller side is about one pixel in mm.
    const fitCrosshair = () => {
      const h = nv.volumes[0]?.hdr
      if (!h || el.clientWidth === 0 || el.clientHeight === 0) return
      const extent = Math.max(...[1, 2, 3].map((i) => Math.abs(h.dims[i] * h.pixDims[i])))
      nv.setCrosshairWidth(extent / Math.min(el.clientWidth, el.clientHeight))
    }
    const resize = new ResizeObserver(fitCrosshair)
    resize.observe(el)
    // The crosshair's slice, as "axial 45 of 120".
    const showSlice = () => {
      const vol = nv.volumes[0]
      if (!vol?.hdr) return
      const vox = vol.mm2vox(Array.from(nv.frac2mm(nv.scene.crosshairPos, 0, true)).slice(0, 3))
      const n = [1, 2, 3].map((i) => vol.hdr!.dims[i])
      setSlice(`Axial ${Math.round(vox[2]) + 1} of ${n[2]} · coronal ${Math.round(vox[1]) + 1} of ${n[1]} · sagittal ${Math.round(vox[0]) + 1} of ${n[0]}`)
    }
    nv.onIntensityChange = (vol) => {
      if (hasCT && vol === nv.volumes[0]) setWin([vol.cal_min ?? DEFAULT_WINDOW[0], vol.cal_max ?? DEFAULT_WINDOW[1]])
    }
    // A click on a slice moves the crosshair: select the organ under it.
    nv.onLocationChange = (loc: unknown) => {
      showSlice()
      const l = loc as { values?: { value: number }[]; string?: string }
      const v = l.values?.[labelsIndex]?.value
      if (typeof v !== 'number') return
      const label = Math.round(v)
      const organ = store.getState().organs.find((o) => o.label === label)
      setUnder(organ ? organ.displayName || organ.name : 'background')
      picked.current = organ?.name ?? null
      store.getState().selectLabel(label, { reveal: true })
    }

    // Keep the overlay's colours and visibility in step with the store.
    let lastLooks = store.getState().looks
    const unsub = store.subscribe((s) => {
      if (s.looks === lastLooks || nv.volumes.length <= labelsIndex) return
      lastLooks = s.looks
      ;(nv.volumes[labelsIndex] as unknown as LabelVolume).setColormapLabel(labelColormap(s.organs, s.looks))
      nv.updateGLVolume()
    })
    return () => {
      cancelled = true
      unsub()
      resize.disconnect()
      nv.onLocationChange = () => {}
      nv.onIntensityChange = () => {}
      try {
        nv.cleanup()
        // Give the WebGL context back now rather than at garbage collection:
        // browsers allow only a few at once.
        ;(nv.gl as WebGL2RenderingContext | null)?.getExtension('WEBGL_lose_context')?.loseContext()
      } catch {
        // already torn down
      }
      nvRef.current = null
    }
    // opacity is applied by its own effect; loading once is enough
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [store, fetchArtifact, hasCT])

  useEffect(() => {
    const nv = nvRef.current
    if (!nv || status.kind !== 'ready' || !hasCT) return
    nv.setOpacity(1, opacity)
  }, [opacity, status, hasCT])

  useEffect(() => {
    const nv = nvRef.current
    if (!nv || status.kind !== 'ready') return
    nv.opts.heroSliceType = SLICE_TYPE.AXIAL
    nv.opts.heroImageFraction = layout === 'hero' ? HERO_FRACTION : 0
    nv.setSliceType(LAYOUTS.find((l) => l.id === layout)?.type ?? SLICE_TYPE.MULTIPLANAR)
  }, [layout, status])

  const setWindow = (lo: number, hi: number) => {
    const nv = nvRef.current
    const ct = nv?.volumes[0]
    if (!nv || !ct || !hasCT) return
    ct.cal_min = lo
    ct.cal_max = hi
    nv.updateGLVolume()
    setWin([lo, hi])
  }

  // What lies under the pointer: HU of the CT, the place in patient terms, the organ.
  const onPointerMove = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const nv = nvRef.current
    if (!nv || status.kind !== 'ready' || e.pointerType !== 'mouse') return
    const r = e.currentTarget.getBoundingClientRect()
    const dpr = nv.uiData.dpr ?? window.devicePixelRatio ?? 1
    const frac = nv.canvasPos2frac([(e.clientX - r.left) * dpr, (e.clientY - r.top) * dpr])
    if (!frac || frac[0] < 0 || frac[1] < 0 || frac[2] < 0) {
      setReadout(null)
      return
    }
    const mm = Array.from(nv.frac2mm(frac, 0, true)).slice(0, 3)
    const valueAt = (i: number) => {
      const vol = nv.volumes[i]
      if (!vol) return null
      const v = vol.mm2vox(mm)
      return vol.getValue(v[0], v[1], v[2])
    }
    const label = valueAt(hasCT ? 1 : 0)
    const organ = label === null ? undefined : store.getState().organs.find((o) => o.label === Math.round(label))
    setReadout({ hu: hasCT ? valueAt(0) : null, mm: patientMm(mm), organ: organ ? organ.displayName || organ.name : '' })
  }

  // A selection made elsewhere (list, 3D) moves the crosshair to the organ's centre.
  useEffect(() => {
    const nv = nvRef.current
    if (!nv || status.kind !== 'ready' || !selected || selected === picked.current) return
    picked.current = null
    const o = store.getState().organs.find((x) => x.name === selected)
    if (!o?.bboxMm) return
    const c = [0, 1, 2].map((i) => (o.bboxMm.min[i] + o.bboxMm.max[i]) / 2)
    const frac = nv.mm2frac([c[0], c[1], c[2]])
    if (Array.from(frac).some((f) => !Number.isFinite(f) || f < 0 || f > 1)) return
    nv.scene.crosshairPos = frac
    nv.drawScene()
  }, [selected, status, store])

  const btn = (active: boolean) =>
    `min-h-6 rounded-md px-2 py-1 text-xs font-medium border ${active ? 'bg-sky-700 border-sky-500 text-white' : 'bg-slate-800 border-slate-700 hover:bg-slate-700'}`
  const preset = presetOf(win[0], win[1])
  const wl = windowOf(win[0], win[1])

  return (
    <section aria-label="Slices" className="flex h-full min-h-[320px] flex-col overflow-hidden rounded-lg border border-slate-800">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1.5 border-b border-slate-800 bg-slate-900 px-2 py-1.5 text-xs">
        <div role="group" aria-label="Slice layout" className="flex flex-wrap gap-1">
          {LAYOUTS.map((l) => (
            <button key={l.id} type="button" className={btn(layout === l.id)} aria-pressed={layout === l.id} onClick={() => setLayout(l.id)}>
              {l.label}
            </button>
          ))}
        </div>
        {hasCT && (
          <div role="group" aria-label="Window" className="flex flex-wrap items-center gap-1" data-testid="window" data-window={`${Math.round(win[0])},${Math.round(win[1])}`}>
            {WINDOWS.map((w) => (
              <button
                key={w.id}
                type="button"
                className={btn(preset?.id === w.id)}
                aria-pressed={preset?.id === w.id}
                title={`Window ${w.width}, level ${w.level} HU`}
                onClick={() => setWindow(...range(w))}
              >
                {w.label}
              </button>
            ))}
            <span className="tabular-nums text-slate-300" title="Right- or Shift-drag on a slice to change the window">
              W {wl.width} L {wl.level}
            </span>
          </div>
        )}
        {hasCT && (
          <label className="flex items-center gap-1">
            Labels opacity
            <input type="range" min={0} max={1} step={0.05} value={opacity} onChange={(e) => setOpacity(Number(e.target.value))} className="w-20" />
          </label>
        )}
      </div>
      <div className="flex flex-wrap gap-x-3 border-b border-slate-800 bg-slate-900/70 px-2 py-1 text-xs text-slate-300">
        <span data-testid="slice-index" className="tabular-nums">
          {slice}
        </span>
        <span data-testid="readout" className="tabular-nums">
          {readout
            ? `${readout.hu !== null ? `${Math.round(readout.hu)} HU · ` : ''}${readout.mm}${readout.organ ? ` · ${readout.organ}` : ''}`
            : 'Point at a slice for HU and position; right-drag sets the window'}
        </span>
        <span className="sm:ml-auto" aria-live="polite">
          {under ? `Under the cursor: ${under}` : 'Click a slice to find the organ there'}
        </span>
      </div>
      <div className="relative flex-1">
        <canvas
          ref={canvas}
          data-testid="slices"
          data-status={status.kind}
          data-layout={layout}
          className="absolute inset-0 h-full w-full"
          onPointerMove={onPointerMove}
          onPointerLeave={() => setReadout(null)}
          onContextMenu={(e) => e.preventDefault()}
          aria-label="CT slices with the organs over them: click to move the crosshair, right-drag to set the window, wheel to change slice"
          role="img"
        />
        {status.kind === 'loading' && (
          <div className="pointer-events-none absolute inset-0 grid place-items-center text-sm text-slate-300" role="status">
            Loading the slices…
          </div>
        )}
        {status.kind === 'error' && (
          <div className="absolute inset-0 grid place-items-center p-6 text-center text-sm text-red-300" role="alert">
            {status.message}
          </div>
        )}
        {!hasCT && status.kind === 'ready' && (
          <p className="absolute bottom-1 left-2 text-xs text-slate-400">The CT volume is not among this job's files: the labels are shown alone.</p>
        )}
      </div>
    </section>
  )
}
