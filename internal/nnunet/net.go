package nnunet

import (
	"fmt"
)

// Network is dynamic_network_architectures' PlainConvUNet (conv_op Conv3d,
// affine InstanceNorm3d, LeakyReLU 0.01, bias, no dropout, no deep
// supervision at inference), built from an Arch and the state dict of an
// nnU-Net checkpoint. Forward is safe for concurrent use.
type Network struct {
	arch    Arch
	encoder [][]*convBlock // per stage, its convolutions
	decoder []decoderStage // bottom up
	head    *conv3d
}

type convBlock struct {
	conv        *conv3d
	gamma, beta []float32
}

type decoderStage struct {
	up    *transpConv3d
	convs []*convBlock
}

// NewNetwork checks that weights hold every tensor the architecture needs,
// with the right shape, and builds the network. Tensors it does not use
// (the duplicates under all_modules and decoder.encoder, the deep-
// supervision heads) are ignored.
func NewNetwork(a Arch, weights map[string]Tensor) (*Network, error) {
	return build(a, func(name string, shape ...int) ([]float32, error) {
		t, ok := weights[name]
		if !ok {
			return nil, fmt.Errorf("weights: %s missing", name)
		}
		if len(t.Shape) != len(shape) {
			return nil, fmt.Errorf("weights: %s has shape %v, want %v", name, t.Shape, shape)
		}
		for i := range shape {
			if t.Shape[i] != shape[i] {
				return nil, fmt.Errorf("weights: %s has shape %v, want %v", name, t.Shape, shape)
			}
		}
		return t.Data, nil
	})
}

// Params lists the tensors (state-dict name and shape) the network of
// architecture a reads from a checkpoint.
func (a Arch) Params() map[string][]int {
	out := map[string][]int{}
	_, _ = build(a, func(name string, shape ...int) ([]float32, error) {
		out[name] = shape
		return make([]float32, shapeLen(shape)), nil
	})
	return out
}

func build(a Arch, get func(name string, shape ...int) ([]float32, error)) (*Network, error) {
	block := func(prefix string, cin, cout int, k, stride [3]int) (*convBlock, error) {
		w, err := get(prefix+".conv.weight", cout, cin, k[0], k[1], k[2])
		if err != nil {
			return nil, err
		}
		b, err := get(prefix+".conv.bias", cout)
		if err != nil {
			return nil, err
		}
		g, err := get(prefix+".norm.weight", cout)
		if err != nil {
			return nil, err
		}
		be, err := get(prefix+".norm.bias", cout)
		if err != nil {
			return nil, err
		}
		return &convBlock{conv: &conv3d{cin: cin, cout: cout, k: k, stride: stride, w: w, b: b}, gamma: g, beta: be}, nil
	}
	n := &Network{arch: a}
	cin := 1
	for s := range a.Features {
		var stage []*convBlock
		for m := range a.ConvsEncoder[s] {
			st := [3]int{1, 1, 1}
			if m == 0 {
				st = a.Strides[s]
			}
			b, err := block(fmt.Sprintf("encoder.stages.%d.0.convs.%d", s, m), cin, a.Features[s], a.Kernels[s], st)
			if err != nil {
				return nil, err
			}
			stage = append(stage, b)
			cin = a.Features[s]
		}
		n.encoder = append(n.encoder, stage)
	}
	ns := len(a.Features)
	for d := range ns - 1 {
		below, skip := a.Features[ns-1-d], a.Features[ns-2-d]
		st := a.Strides[ns-1-d]
		w, err := get(fmt.Sprintf("decoder.transpconvs.%d.weight", d), below, skip, st[0], st[1], st[2])
		if err != nil {
			return nil, err
		}
		b, err := get(fmt.Sprintf("decoder.transpconvs.%d.bias", d), skip)
		if err != nil {
			return nil, err
		}
		ds := decoderStage{up: newTranspConv(below, skip, st, w, b)}
		c := 2 * skip
		for m := range a.ConvsDecoder[d] {
			b, err := block(fmt.Sprintf("decoder.stages.%d.convs.%d", d, m), c, skip, a.Kernels[ns-2-d], [3]int{1, 1, 1})
			if err != nil {
				return nil, err
			}
			ds.convs = append(ds.convs, b)
			c = skip
		}
		n.decoder = append(n.decoder, ds)
	}
	last := ns - 2
	if ns == 1 {
		return nil, fmt.Errorf("weights: a one-stage network has no decoder")
	}
	w, err := get(fmt.Sprintf("decoder.seg_layers.%d.weight", last), a.Classes, a.Features[0], 1, 1, 1)
	if err != nil {
		return nil, err
	}
	b, err := get(fmt.Sprintf("decoder.seg_layers.%d.bias", last), a.Classes)
	if err != nil {
		return nil, err
	}
	n.head = &conv3d{cin: a.Features[0], cout: a.Classes, k: [3]int{1, 1, 1}, stride: [3]int{1, 1, 1}, w: w, b: b}
	return n, nil
}

// Arch returns the architecture the network was built with.
func (n *Network) Arch() Arch { return n.arch }

// fmap is a feature map: C channels of dims voxels.
type fmap struct {
	c    int
	dims [3]int
	data []float32
}

func (b *convBlock) run(in fmap) fmap {
	od := b.conv.outShape(in.dims)
	out := fmap{c: b.conv.cout, dims: od, data: make([]float32, b.conv.cout*od[0]*od[1]*od[2])}
	b.conv.forward(in.data, in.dims, out.data)
	instanceNormLeaky(out.data, out.c, b.gamma, b.beta, true)
	return out
}

// Forward runs the network on one single-channel input of dims (D, H, W),
// each divisible by the product of the strides, and returns the logits,
// (classes, D, H, W).
func (n *Network) Forward(in []float32, dims [3]int) ([]float32, error) {
	nv := dims[0] * dims[1] * dims[2]
	out := make([]float32, n.arch.Classes*nv)
	err := n.ForwardEach(in, dims, func(v0, v1 int, logits []float32) {
		T := v1 - v0
		for c := range n.arch.Classes {
			copy(out[c*nv+v0:c*nv+v1], logits[c*T:(c+1)*T])
		}
	})
	return out, err
}

// headChunk is how many voxels' logits ForwardEach hands over at once.
const headChunk = 4096

// ForwardEach is Forward without holding all the logits (118 classes of a
// 112x112x128 patch are 757 MB): the 1x1x1 head runs on chunks of voxels
// v0..v1 (C order), on all cores, and fn gets each chunk's logits,
// (classes, v1-v0), while the chunk buffer is live. fn is called
// concurrently for disjoint chunks.
func (n *Network) ForwardEach(in []float32, dims [3]int, fn func(v0, v1 int, logits []float32)) error {
	div := [3]int{1, 1, 1}
	for _, s := range n.arch.Strides {
		for i := range 3 {
			div[i] *= s[i]
		}
	}
	for i := range 3 {
		if dims[i] < 1 || dims[i]%div[i] != 0 {
			return fmt.Errorf("nnunet: input %v is not a multiple of the network's stride %v", dims, div)
		}
	}
	if len(in) != dims[0]*dims[1]*dims[2] {
		return fmt.Errorf("nnunet: %d values for dims %v", len(in), dims)
	}
	x := fmap{c: 1, dims: dims, data: in}
	skips := make([]fmap, len(n.encoder))
	for s, stage := range n.encoder {
		for _, b := range stage {
			x = b.run(x)
		}
		skips[s] = x
	}
	for d, ds := range n.decoder {
		skip := skips[len(skips)-2-d]
		// concatenation (upsampled, skip): the transposed convolution writes
		// the first half of the buffer, the skip is copied behind it
		nv := skip.dims[0] * skip.dims[1] * skip.dims[2]
		cat := fmap{c: ds.up.cout + skip.c, dims: skip.dims, data: make([]float32, (ds.up.cout+skip.c)*nv)}
		ds.up.forward(x.data, x.dims, cat.data[:ds.up.cout*nv])
		copy(cat.data[ds.up.cout*nv:], skip.data)
		// the maps below and the skip are no longer needed
		skips[len(skips)-1-d], skips[len(skips)-2-d] = fmap{}, fmap{}
		x = cat
		for _, b := range ds.convs {
			x = b.run(x)
		}
	}
	nv := dims[0] * dims[1] * dims[2]
	h := n.head
	chunks := (nv + headChunk - 1) / headChunk
	parallelTiles(chunks, func(t int, s *scratch) {
		v0 := t * headChunk
		v1 := min(v0+headChunk, nv)
		T := v1 - v0
		if cap(s.col) < h.cout*headChunk {
			s.col = make([]float32, h.cout*headChunk)
		}
		logits := s.col[:h.cout*T]
		for c := range h.cout {
			b := h.b[c]
			row := logits[c*T : (c+1)*T]
			for i := range row {
				row[i] = b
			}
		}
		gemm(h.cout, T, h.cin, h.w, x.data[v0:], nv, logits, T, &s.pack)
		fn(v0, v1, logits)
	})
	return nil
}
