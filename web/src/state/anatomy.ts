// What the viewer knows about anatomy, beyond the manifest: the order in
// which structures are listed (head to feet, then natural order of names),
// the display colours, and which structures open hidden or faint because
// they wrap around everything else.
//
// Colours: the manifest carries TotalSegmentator's DICOM colours, which
// paint the liver, spleen, pancreas and gallbladder in four near-identical
// greens. For the structures that 3D Slicer's GenericAnatomyColors table
// names, the viewer uses that table's colour instead (source:
// Slicer/Slicer, Base/Logic/Resources/ColorFiles/GenericAnatomyColors.txt,
// "Slicer3:2010 GenericAnatomyColors"); every other structure keeps the
// manifest's colour. The downloaded files keep the manifest's colours.

import type { ManifestOrgan } from '../api/types'

/**
 * GENERIC_ANATOMY_COLORS maps a machine name (TotalSegmentator's or the
 * native engine's) to the GenericAnatomyColors entry named after the same
 * structure; the entry's name and number are in the comment.
 */
export const GENERIC_ANATOMY_COLORS: Record<string, string> = {
  liver: '#dd8265', // 216 liver 221 130 101
  spleen: '#9d6ca2', // 220 spleen 157 108 162
  pancreas: '#f9b46f', // 219 pancreas 249 180 111
  gallbladder: '#8b9662', // 218 gallbladder 139 150 98
  kidney_right: '#b96653', // 222 right_kidney 185 102 83
  kidney_left: '#b96653', // 223 left_kidney 185 102 83
  adrenal_gland_right: '#f9ba96', // 228 right_adrenal_gland 249 186 150
  adrenal_gland_left: '#f9ba96', // 229 left_adrenal_gland 249 186 150
  stomach: '#d88469', // 211 stomach 216 132 105
  urinary_bladder: '#de9a84', // 226 urinary_bladder 222 154 132
  prostate: '#e69e8c', // 238 prostate 230 158 140
  heart: '#ce6e54', // 180 heart 206 110 84
  aorta: '#e0614c', // 191 aorta 224 97 76
  superior_vena_cava: '#0097ce', // 16 vein 0 151 206
  inferior_vena_cava: '#0097ce', // 16 vein 0 151 206
  portal_vein_and_splenic_vein: '#0097ce', // 16 vein 0 151 206
  thyroid_gland: '#3ea272', // 163 thyroid_gland 62 162 114
  brain: '#fafae1', // 38 brain 250 250 225
  spinal_cord: '#f4d631', // 115 spinal_cord 244 214 49
  skull: '#f1d590', // 140 skull 241 213 144
  sternum: '#f4d99a', // 202 sternum 244 217 154
  clavicula_left: '#cdb36c', // 204 left_clavicle 205 179 108
  clavicula_right: '#cdb36c', // 203 right_clavicle 205 179 108
  skeleton: '#f1d691', // 2 bone 241 214 145
  body: '#b17a65', // 3 skin 177 122 101
  subcutaneous_fat: '#e6dc46', // 12 fat 230 220 70
  skeletal_muscle: '#c06858', // 8 muscle 192 104 88
}

/** ENVELOPES wrap the organs: the body opens faint, fat and muscle hidden, so the anatomy inside shows. */
export const ENVELOPES: Record<string, { visible: boolean; opacity: number }> = {
  body: { visible: true, opacity: 0.12 },
  subcutaneous_fat: { visible: false, opacity: 1 },
  skeletal_muscle: { visible: false, opacity: 1 },
}

/** isEnvelope: a structure left out of the slice overlay, where it would wash out the CT. */
export function isEnvelope(name: string): boolean {
  return name in ENVELOPES
}

/** SMALL_ML: structures below this volume (mL) are debris or slivers at the scan's edge; they open hidden. */
export const SMALL_ML = 0.5

export function isSmall(o: ManifestOrgan): boolean {
  return Number.isFinite(o.voxelVolumeMl) && o.voxelVolumeMl < SMALL_ML
}

/** displayColor is the colour an organ opens in. */
export function displayColor(o: ManifestOrgan): string {
  return GENERIC_ANATOMY_COLORS[o.name] ?? o.color
}

// Head to feet, by the machine name with its side and number taken off.
const CRANIOCAUDAL = [
  'brain', 'skull', 'thyroid_gland', 'common_carotid_artery', 'trachea', 'airways', 'esophagus',
  'clavicula', 'scapula', 'humerus', 'sternum', 'costal_cartilages', 'rib', 'vertebrae',
  'spinal_cord', 'brachiocephalic_trunk', 'subclavian_artery', 'brachiocephalic_vein', 'superior_vena_cava',
  'lung_upper_lobe', 'lung_middle_lobe', 'lung_lower_lobe', 'lung', 'heart', 'atrial_appendage', 'pulmonary_vein', 'aorta',
  'liver', 'spleen', 'gallbladder', 'stomach', 'pancreas', 'adrenal_gland', 'kidney', 'kidney_cyst', 'duodenum',
  'portal_vein_and_splenic_vein', 'inferior_vena_cava', 'small_bowel', 'colon', 'autochthon', 'iliopsoas',
  'sacrum', 'hip', 'iliac_artery', 'iliac_vena', 'gluteus_maximus', 'gluteus_medius', 'gluteus_minimus',
  'urinary_bladder', 'prostate', 'femur', 'body', 'skeleton', 'subcutaneous_fat', 'skeletal_muscle',
]
const RANK = new Map(CRANIOCAUDAL.map((b, i) => [b, i]))
const SPINE = { C: 0, T: 1, L: 2, S: 3 } as Record<string, number>

/** anatomicalKey: [rank of the structure head to feet, position within it (vertebra, rib number), side]. */
export function anatomicalKey(name: string): [number, number, number] {
  const v = /^vertebrae_([CTLS])(\d+)$/.exec(name)
  if (v) return [RANK.get('vertebrae') ?? 0, SPINE[v[1]] * 100 + Number(v[2]), 0]
  const rib = /^rib_(left|right)_(\d+)$/.exec(name)
  if (rib) return [RANK.get('rib') ?? 0, Number(rib[2]), rib[1] === 'right' ? 0 : 1]
  const m = /^(.*?)_(left|right)$/.exec(name)
  const base = m ? m[1] : name
  const side = m ? (m[2] === 'right' ? 0 : 1) : 0
  return [RANK.get(base) ?? CRANIOCAUDAL.length, 0, side]
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' })

/** compareAnatomical orders head to feet, the right side before the left, then by name in natural order (Rib 2 before Rib 10). */
export function compareAnatomical(a: ManifestOrgan, b: ManifestOrgan): number {
  const ka = anatomicalKey(a.name)
  const kb = anatomicalKey(b.name)
  for (let i = 0; i < 3; i++) if (ka[i] !== kb[i]) return ka[i] - kb[i]
  return collator.compare(a.displayName || a.name, b.displayName || b.name)
}

/** sizeMm is an organ's extent (bounding box) in mm, x y z, or null when the manifest has none. */
export function sizeMm(o: ManifestOrgan): [number, number, number] | null {
  const b = o.bboxMm
  if (!b?.min || !b?.max) return null
  const s = [0, 1, 2].map((i) => Math.abs(b.max[i] - b.min[i]))
  return s.every(Number.isFinite) ? (s as [number, number, number]) : null
}

/** formatSize writes an extent as "120 × 85 × 140 mm" (left–right × front–back × head–feet). */
export function formatSize(s: [number, number, number] | null): string {
  if (!s) return '—'
  return `${s.map((v) => Math.round(v)).join(' × ')} mm`
}

/** ENGINES says what each segmentation engine produces, for the upload page and the job. */
export const ENGINES: Record<string, string> = {
  native:
    'Native engine (built in, seconds, no GPU): 7 broad tissues — body outline, skeleton as one piece, left and right lung, airways, subcutaneous fat and skeletal muscle. It does not separate individual organs.',
  'totalseg-fast':
    "TotalSegmentator (fast, 3 mm): up to 117 named structures — organs, vessels, each vertebra and rib, muscles — at 3 mm resolution.",
  totalsegmentator: 'TotalSegmentator: up to 117 named structures — organs, vessels, each vertebra and rib, muscles — at full resolution.',
}

export function engineNote(engine: string | undefined): string {
  if (!engine) return ''
  return ENGINES[engine] ?? (/^https?:/.test(engine) ? ENGINES.totalsegmentator : '')
}
