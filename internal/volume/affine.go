package volume

import (
	"errors"
	"fmt"
	"math"
)

// Apply maps voxel index (i, j, k) to patient coordinates (mm, RAS+).
func (a Affine) Apply(i, j, k float64) [3]float64 {
	var p [3]float64
	for r := range 3 {
		p[r] = a[r][0]*i + a[r][1]*j + a[r][2]*k + a[r][3]
	}
	return p
}

// Inverse returns the affine mapping patient coordinates back to voxel
// indices. It fails when the last row is not (0, 0, 0, 1) or the 3×3 part
// is singular or not finite.
func (a Affine) Inverse() (Affine, error) {
	if a[3] != [4]float64{0, 0, 0, 1} {
		return Affine{}, fmt.Errorf("affine last row %v is not (0, 0, 0, 1)", a[3])
	}
	m := a.linear()
	inv, ok := m.inverse()
	if !ok {
		return Affine{}, errors.New("affine is singular or not finite")
	}
	var out Affine
	for r := range 3 {
		for c := range 3 {
			out[r][c] = inv[r][c]
		}
		out[r][3] = -(inv[r][0]*a[0][3] + inv[r][1]*a[1][3] + inv[r][2]*a[2][3])
	}
	out[3] = [4]float64{0, 0, 0, 1}
	return out, nil
}

// Spacing is the length in mm of one voxel step along i, j and k: the norms
// of the affine's first three columns (nibabel's voxel_sizes).
func (a Affine) Spacing() [3]float64 {
	var s [3]float64
	for c := range 3 {
		s[c] = math.Sqrt(a[0][c]*a[0][c] + a[1][c]*a[1][c] + a[2][c]*a[2][c])
	}
	return s
}

// Orientation names the anatomical direction each voxel axis points toward,
// exactly as nibabel's aff2axcodes: "RAS" means +i goes right, +j anterior
// and +k superior; "LPS" is the DICOM convention. An axis whose column is
// zero is reported as '?'.
func (a Affine) Orientation() string {
	labels := [3][2]byte{{'L', 'R'}, {'P', 'A'}, {'I', 'S'}}
	ornt := a.ioOrientation()
	out := make([]byte, 3)
	for in, o := range ornt {
		switch {
		case o.axis < 0:
			out[in] = '?'
		case o.flip:
			out[in] = labels[o.axis][0]
		default:
			out[in] = labels[o.axis][1]
		}
	}
	return string(out)
}

// VoxelVolume is the volume of one voxel in mm³: |det| of the affine's 3×3.
func (g Grid) VoxelVolume() float64 { return math.Abs(g.Affine.linear().det()) }

// Spacing is the voxel size in mm along i, j and k (see Affine.Spacing).
func (g Grid) Spacing() [3]float64 { return g.Affine.Spacing() }

type axisOrientation struct {
	axis int  // output (RAS) axis, -1 if none
	flip bool // the voxel axis runs toward L, P or I
}

// ioOrientation ports nibabel's io_orientation: normalise the columns, take
// the closest shear-free matrix (polar decomposition through the SVD, rank
// thresholded like numpy), then give each voxel axis the world axis it moves
// along most, claiming world axes in voxel-axis order.
func (a Affine) ioOrientation() [3]axisOrientation {
	rs := a.linear()
	zooms := a.Spacing()
	for c := range 3 {
		if zooms[c] == 0 {
			zooms[c] = 1
		}
		for r := range 3 {
			rs[r][c] /= zooms[c]
		}
	}
	rot := rs.polar()
	var ornt [3]axisOrientation
	for in := range 3 {
		ornt[in].axis = -1
		best, bestAbs, zero := 0, -1.0, true
		for r := range 3 {
			v := math.Abs(rot[r][in])
			if v > 1e-8 { // numpy.allclose(col, 0)
				zero = false
			}
			if v > bestAbs {
				best, bestAbs = r, v
			}
		}
		if zero {
			continue
		}
		ornt[in] = axisOrientation{axis: best, flip: rot[best][in] < 0}
		rot[best] = [3]float64{}
	}
	return ornt
}

// mat3 is a 3×3 matrix, row-major.
type mat3 [3][3]float64

func (a Affine) linear() mat3 {
	var m mat3
	for r := range 3 {
		copy(m[r][:], a[r][:3])
	}
	return m
}

func (m mat3) det() float64 {
	return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
}

func (m mat3) mul(n mat3) mat3 {
	var p mat3
	for r := range 3 {
		for c := range 3 {
			p[r][c] = m[r][0]*n[0][c] + m[r][1]*n[1][c] + m[r][2]*n[2][c]
		}
	}
	return p
}

func (m mat3) transpose() mat3 {
	var t mat3
	for r := range 3 {
		for c := range 3 {
			t[r][c] = m[c][r]
		}
	}
	return t
}

func (m mat3) inverse() (mat3, bool) {
	d := m.det()
	scale := 1.0
	for r := range 3 {
		for c := range 3 {
			scale = math.Max(scale, math.Abs(m[r][c]))
		}
	}
	if d == 0 || math.IsNaN(d) || math.IsInf(d, 0) || math.Abs(d) < 1e-12*scale*scale*scale {
		return mat3{}, false
	}
	var inv mat3
	for r := range 3 {
		for c := range 3 {
			// cofactor of (c, r) over the determinant
			r1, r2 := (c+1)%3, (c+2)%3
			c1, c2 := (r+1)%3, (r+2)%3
			inv[r][c] = (m[r1][c1]*m[r2][c2] - m[r1][c2]*m[r2][c1]) / d
		}
	}
	return inv, true
}

// symEigen diagonalises a symmetric matrix by cyclic Jacobi rotations: s
// holds the eigenvalues and the columns of v the eigenvectors.
func symEigen(s mat3) (vals [3]float64, v mat3) {
	v = mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	for range 50 {
		off := s[0][1]*s[0][1] + s[0][2]*s[0][2] + s[1][2]*s[1][2]
		if off == 0 {
			break
		}
		for p := range 2 {
			for q := p + 1; q < 3; q++ {
				if s[p][q] == 0 {
					continue
				}
				theta := (s[q][q] - s[p][p]) / (2 * s[p][q])
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				c := 1 / math.Sqrt(t*t+1)
				sn := t * c
				for k := range 3 { // s = s·J
					skp, skq := s[k][p], s[k][q]
					s[k][p], s[k][q] = c*skp-sn*skq, sn*skp+c*skq
				}
				for k := range 3 { // s = Jᵀ·s
					spk, sqk := s[p][k], s[q][k]
					s[p][k], s[q][k] = c*spk-sn*sqk, sn*spk+c*sqk
				}
				for k := range 3 {
					vkp, vkq := v[k][p], v[k][q]
					v[k][p], v[k][q] = c*vkp-sn*vkq, sn*vkp+c*vkq
				}
			}
		}
	}
	return [3]float64{s[0][0], s[1][1], s[2][2]}, v
}

// polar returns U·Vᵀ from the SVD m = U·S·Vᵀ, keeping only singular values
// above numpy's rank tolerance (max(S)·3·eps), as nibabel's io_orientation.
// For a full-rank m it is the orthogonal matrix closest to m.
func (m mat3) polar() mat3 {
	vals, v := symEigen(m.transpose().mul(m))
	var sv [3]float64
	smax := 0.0
	for i, e := range vals {
		sv[i] = math.Sqrt(math.Max(e, 0))
		smax = math.Max(smax, sv[i])
	}
	tol := smax * 3 * 0x1p-52
	// m · Σ_kept v·vᵀ/s = Σ_kept u·vᵀ
	var proj mat3
	for i := range 3 {
		if sv[i] <= tol {
			continue
		}
		for r := range 3 {
			for c := range 3 {
				proj[r][c] += v[r][i] * v[c][i] / sv[i]
			}
		}
	}
	return m.mul(proj)
}

// quaternToMat is nibabel's Nifti1Header.get_qform: the rotation from the
// quaternion (b, c, d) with a = sqrt(1-b²-c²-d²) (0 when that is slightly
// negative, an error when it is below -3 eps of the header's float type),
// normalised like quat2mat, times diag(dx, dy, qfac·dz), plus the offsets.
func quaternToMat(b, c, d float64, pix [3]float64, qfac float64, off [3]float64, eps float64) (Affine, error) {
	w2 := 1 - (b*b + c*c + d*d)
	a := 0.0
	if w2 < 0 {
		if w2 < -3*eps {
			return Affine{}, fmt.Errorf("qform quaternion (%g, %g, %g) has norm over 1", b, c, d)
		}
	} else {
		a = math.Sqrt(w2)
	}
	rot := mat3{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	if nq := a*a + b*b + c*c + d*d; nq >= 0x1p-52 {
		s := 2 / nq
		x, y, z := b*s, c*s, d*s
		wx, wy, wz := a*x, a*y, a*z
		xx, xy, xz := b*x, b*y, b*z
		yy, yz, zz := c*y, c*z, d*z
		rot = mat3{
			{1 - (yy + zz), xy - wz, xz + wy},
			{xy + wz, 1 - (xx + zz), yz - wx},
			{xz - wy, yz + wx, 1 - (xx + yy)},
		}
	}
	scale := [3]float64{pix[0], pix[1], pix[2] * qfac}
	var m Affine
	for r := range 3 {
		for col := range 3 {
			m[r][col] = rot[r][col] * scale[col]
		}
		m[r][3] = off[r]
	}
	m[3] = [4]float64{0, 0, 0, 1}
	return m, nil
}

// quatern is a qform in header form.
type quatern struct {
	b, c, d    float64
	off, pixel [3]float64
	qfac       float64
}

// matToQuatern ports nifti1_io's nifti_mat44_to_quatern: spacing from the
// column norms, the rotation from the polar decomposition of the normalised
// columns (so shears are dropped), qfac -1 for a left-handed matrix.
func matToQuatern(a Affine) quatern {
	q := quatern{off: [3]float64{a[0][3], a[1][3], a[2][3]}, pixel: a.Spacing(), qfac: 1}
	m := a.linear()
	for c := range 3 {
		if q.pixel[c] == 0 {
			for r := range 3 {
				m[r][c] = 0
			}
			m[c][c], q.pixel[c] = 1, 1
		}
		for r := range 3 {
			m[r][c] /= q.pixel[c]
		}
	}
	m = m.polar()
	if m.det() <= 0 {
		q.qfac = -1
		for r := range 3 {
			m[r][2] = -m[r][2]
		}
	}
	r11, r12, r13 := m[0][0], m[0][1], m[0][2]
	r21, r22, r23 := m[1][0], m[1][1], m[1][2]
	r31, r32, r33 := m[2][0], m[2][1], m[2][2]
	var qa, qb, qc, qd float64
	if t := r11 + r22 + r33 + 1; t > 0.5 {
		qa = 0.5 * math.Sqrt(t)
		qb = 0.25 * (r32 - r23) / qa
		qc = 0.25 * (r13 - r31) / qa
		qd = 0.25 * (r21 - r12) / qa
	} else {
		xd := 1 + r11 - (r22 + r33)
		yd := 1 + r22 - (r11 + r33)
		zd := 1 + r33 - (r11 + r22)
		switch {
		case xd > 1:
			qb = 0.5 * math.Sqrt(xd)
			qc = 0.25 * (r12 + r21) / qb
			qd = 0.25 * (r13 + r31) / qb
			qa = 0.25 * (r32 - r23) / qb
		case yd > 1:
			qc = 0.5 * math.Sqrt(yd)
			qb = 0.25 * (r12 + r21) / qc
			qd = 0.25 * (r23 + r32) / qc
			qa = 0.25 * (r13 - r31) / qc
		default:
			qd = 0.5 * math.Sqrt(zd)
			qb = 0.25 * (r13 + r31) / qd
			qc = 0.25 * (r23 + r32) / qd
			qa = 0.25 * (r21 - r12) / qd
		}
		if qa < 0 {
			qb, qc, qd = -qb, -qc, -qd
		}
	}
	q.b, q.c, q.d = qb, qc, qd
	return q
}

// baseAffine is nibabel's get_base_affine, the affine of a header with
// neither qform nor sform: diag(-dx, dy, dz) centred on the middle voxel.
func baseAffine(shape []int, pixdim [8]float64) Affine {
	var a Affine
	for i := range 3 {
		n, z := 1.0, 1.0
		if i < len(shape) {
			n, z = float64(shape[i]), pixdim[i+1]
		}
		if i == 0 {
			z = -z
		}
		a[i][i] = z
		a[i][3] = -(n - 1) / 2 * z
	}
	a[3][3] = 1
	return a
}
