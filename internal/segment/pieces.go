package segment

import "math"

// dropPieces gives back to the body the pieces of skeleton (6-connected)
// that are both smaller than bp.minPieceML and compact, spreading less
// than bp.minPieceSpreadMM along their longest axis. boneFlag marks the
// pieces visited until all are.
func dropPieces(fr frame, lab []uint16, bp boneParams) {
	nx, ny, nz := fr.dims[0], fr.dims[1], fr.dims[2]
	nxy := nx * ny
	maxN := int(bp.minPieceML * 1000 / (fr.sp[0] * fr.sp[1] * fr.sp[2]))
	var stack, piece []int32
	for s, l := range lab {
		if l != labSkeleton {
			continue
		}
		lab[s] |= boneFlag
		stack = append(stack[:0], int32(s))
		piece = piece[:0]
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			piece = append(piece, int32(p))
			try := func(q int) {
				if lab[q] == labSkeleton {
					lab[q] |= boneFlag
					stack = append(stack, int32(q))
				}
			}
			forNeighbours6(p, nx, ny, nz, try)
		}
		if len(piece) < maxN && spreadMM(fr, piece) < bp.minPieceSpreadMM {
			for _, p := range piece {
				lab[p] = labBody
			}
		}
	}
	parallel(nz, func(k0, k1 int) {
		for p := k0 * nxy; p < k1*nxy; p++ {
			lab[p] &^= boneFlag
		}
	})
}

// spreadMM is the standard deviation, in mm, of the voxels' positions
// along their principal axis: the square root of the covariance matrix's
// largest eigenvalue.
func spreadMM(fr frame, vox []int32) float64 {
	nx, nxy := fr.dims[0], fr.dims[0]*fr.dims[1]
	var sum [3]float64
	var sq [3][3]float64
	for _, p := range vox {
		x := [3]float64{float64(int(p) % nx), float64(int(p) / nx % fr.dims[1]), float64(int(p) / nxy)}
		for a := range 3 {
			x[a] *= fr.sp[a]
			sum[a] += x[a]
		}
		for a := range 3 {
			for b := range 3 {
				sq[a][b] += x[a] * x[b]
			}
		}
	}
	n := float64(len(vox))
	var c [3][3]float64
	for a := range 3 {
		for b := range 3 {
			c[a][b] = sq[a][b]/n - sum[a]*sum[b]/(n*n)
		}
	}
	return math.Sqrt(max(0, largestEigen(c)))
}

// largestEigen is the largest eigenvalue of the symmetric matrix c, by the
// trigonometric solution of its characteristic cubic.
func largestEigen(c [3][3]float64) float64 {
	p1 := c[0][1]*c[0][1] + c[0][2]*c[0][2] + c[1][2]*c[1][2]
	q := (c[0][0] + c[1][1] + c[2][2]) / 3
	if p1 == 0 {
		return max(c[0][0], c[1][1], c[2][2])
	}
	d0, d1, d2 := c[0][0]-q, c[1][1]-q, c[2][2]-q
	p2 := d0*d0 + d1*d1 + d2*d2 + 2*p1
	p := math.Sqrt(p2 / 6)
	var b [3][3]float64
	for a := range 3 {
		for d := range 3 {
			b[a][d] = c[a][d] / p
			if a == d {
				b[a][d] -= q / p
			}
		}
	}
	det := b[0][0]*(b[1][1]*b[2][2]-b[1][2]*b[2][1]) -
		b[0][1]*(b[1][0]*b[2][2]-b[1][2]*b[2][0]) +
		b[0][2]*(b[1][0]*b[2][1]-b[1][1]*b[2][0])
	r := math.Max(-1, math.Min(1, det/2))
	return q + 2*p*math.Cos(math.Acos(r)/3)
}
