package nnunet

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// Tensor is a dense float32 array in C order (the last axis varies
// fastest), as a PyTorch tensor made contiguous.
type Tensor struct {
	Shape []int
	Data  []float32
}

// Len is the number of elements the shape holds.
func (t Tensor) Len() int { return shapeLen(t.Shape) }

func shapeLen(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// Limits on a checkpoint, so that a hostile file cannot make the reader
// allocate more than it holds: the pickle program, and the whole of the
// tensors read (the --fast model's weights are 66 MB).
const (
	maxPickleBytes = 64 << 20
	maxWeightBytes = 2 << 30
)

// ReadCheckpoint reads the network weights of an nnU-Net v2
// checkpoint_final.pth: a PyTorch zip archive whose data.pkl pickles a dict
// with "network_weights" (the state dict). Everything else in the file
// (optimizer state, training log, init args) is skipped: its tensors are
// never read. Only the pickle globals a torch.save of such a dict uses
// are given meaning; any other global is kept as an inert value, never
// run. Tensors must be float32 (torch.FloatStorage) and lie inside their
// storage.
func ReadCheckpoint(r io.ReaderAt, size int64) (map[string]Tensor, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: not a PyTorch zip file: %w", err)
	}
	var pkl *zip.File
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		files[f.Name] = f
		if path.Base(f.Name) == "data.pkl" && strings.Count(f.Name, "/") == 1 {
			if pkl != nil {
				return nil, errors.New("checkpoint: more than one data.pkl")
			}
			pkl = f
		}
	}
	if pkl == nil {
		return nil, errors.New("checkpoint: no <archive>/data.pkl (a TorchScript or legacy file?)")
	}
	if _, ok := files[path.Join(path.Dir(pkl.Name), "constants.pkl")]; ok {
		return nil, errors.New("checkpoint: TorchScript archives are not nnU-Net checkpoints")
	}
	if pkl.UncompressedSize64 > maxPickleBytes {
		return nil, fmt.Errorf("checkpoint: data.pkl is %d bytes", pkl.UncompressedSize64)
	}
	prefix := path.Dir(pkl.Name) + "/data/"
	rc, err := pkl.Open()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	prog, err := io.ReadAll(io.LimitReader(rc, maxPickleBytes))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if err := checkPickle(prog); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	u := pickle.NewUnpickler(bytes.NewReader(prog))
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() != 5 {
			return nil, fmt.Errorf("persistent id %T is not a 5-tuple", id)
		}
		kind, _ := t.Get(0).(string)
		st, okT := t.Get(1).(storageType)
		key, okK := t.Get(2).(string)
		numel, okN := t.Get(4).(int)
		if kind != "storage" || !okT || !okK || !okN || numel < 0 {
			return nil, fmt.Errorf("persistent id %v is not a storage", *t)
		}
		return &storageRef{dtype: st.name, key: key, numel: numel}, nil
	}
	root, err := load(&u)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: unpickle: %w", err)
	}
	var weights any
	switch d := root.(type) {
	case *types.Dict:
		weights, _ = d.Get("network_weights")
	case *types.OrderedDict:
		weights, _ = d.Get("network_weights")
	}
	od, ok := weights.(*types.OrderedDict)
	if !ok {
		return nil, errors.New("checkpoint: no network_weights state dict (not an nnU-Net v2 checkpoint)")
	}
	out := map[string]Tensor{}
	loaded := map[string][]float32{}
	total := 0
	for e := od.List.Front(); e != nil; e = e.Next() {
		entry, _ := e.Value.(*types.OrderedDictEntry)
		if entry == nil {
			continue
		}
		name, ok := entry.Key.(string)
		if !ok {
			continue
		}
		ref, ok := entry.Value.(*tensorRef)
		if !ok {
			continue // _metadata and the like
		}
		if ref.storage.dtype != "FloatStorage" {
			return nil, fmt.Errorf("checkpoint: %s is %s; only float32 weights are read", name, ref.storage.dtype)
		}
		data, ok := loaded[ref.storage.key]
		if !ok {
			total += ref.storage.numel * 4
			if total > maxWeightBytes {
				return nil, fmt.Errorf("checkpoint: weights exceed %d bytes", maxWeightBytes)
			}
			data, err = readStorage(files[prefix+ref.storage.key], ref.storage.numel)
			if err != nil {
				return nil, fmt.Errorf("checkpoint: %s: %w", name, err)
			}
			loaded[ref.storage.key] = data
		}
		t, err := ref.materialize(data)
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

func readStorage(f *zip.File, numel int) ([]float32, error) {
	if f == nil {
		return nil, errors.New("storage record missing")
	}
	if f.UncompressedSize64 != uint64(numel)*4 {
		return nil, fmt.Errorf("storage record %s holds %d bytes, want %d", f.Name, f.UncompressedSize64, numel*4)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, numel*4)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name, err)
	}
	out := make([]float32, numel)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return out, nil
}

// storageType is a torch.*Storage global; storageRef a storage named by a
// persistent id, read only if a network weight uses it.
type storageType struct{ name string }

type storageRef struct {
	dtype string
	key   string
	numel int
}

// tensorRef is torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, requires_grad, backward_hooks), not yet read.
type tensorRef struct {
	storage *storageRef
	offset  int
	size    []int
	stride  []int
}

func (t *tensorRef) materialize(data []float32) (Tensor, error) {
	if t.offset < 0 || len(t.size) != len(t.stride) || len(t.size) > 8 {
		return Tensor{}, errors.New("bad tensor view")
	}
	n := 1
	for _, d := range t.size {
		if d < 0 || (d > 0 && n > len(data)/d) {
			// a state-dict tensor never holds more elements than its storage
			return Tensor{}, fmt.Errorf("view of shape %v exceeds its %d-element storage", t.size, len(data))
		}
		n *= d
	}
	// The largest index the view reaches must lie inside the storage.
	last := t.offset
	for i, d := range t.size {
		if d < 0 || t.stride[i] < 0 {
			return Tensor{}, errors.New("negative size or stride")
		}
		if d > 0 {
			last += (d - 1) * t.stride[i]
		}
	}
	if n > 0 && last >= len(data) {
		return Tensor{}, fmt.Errorf("view reaches element %d of a %d-element storage", last, len(data))
	}
	out := make([]float32, n)
	idx := make([]int, len(t.size))
	for i := range out {
		off := t.offset
		for a, v := range idx {
			off += v * t.stride[a]
		}
		out[i] = data[off]
		for a := len(idx) - 1; a >= 0; a-- {
			idx[a]++
			if idx[a] < t.size[a] {
				break
			}
			idx[a] = 0
		}
	}
	return Tensor{Shape: append([]int(nil), t.size...), Data: out}, nil
}

// findClass gives meaning to the globals torch.save writes for a tensor
// and returns an inert stand-in for every other one (torch.device, numpy
// scalars and dtypes, _codecs.encode): nothing named in a file is run.
func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return rebuildTensor{}, nil
	case "torch.FloatStorage", "torch.HalfStorage", "torch.DoubleStorage", "torch.BFloat16Storage",
		"torch.LongStorage", "torch.IntStorage", "torch.ShortStorage", "torch.CharStorage",
		"torch.ByteStorage", "torch.BoolStorage":
		return storageType{name: name}, nil
	}
	return inert{module: module, name: name}, nil
}

type rebuildTensor struct{}

func (rebuildTensor) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is %T", args[0])
	}
	off, ok := args[1].(int)
	if !ok {
		return nil, errors.New("_rebuild_tensor_v2: offset is not an int")
	}
	size, err := ints(args[2])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: size: %w", err)
	}
	stride, err := ints(args[3])
	if err != nil {
		return nil, fmt.Errorf("_rebuild_tensor_v2: stride: %w", err)
	}
	return &tensorRef{storage: st, offset: off, size: size, stride: stride}, nil
}

func ints(v any) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("%T is not a tuple", v)
	}
	out := make([]int, t.Len())
	for i := range out {
		n, ok := t.Get(i).(int)
		if !ok || n > math.MaxInt32 {
			return nil, fmt.Errorf("element %d is not a small int", i)
		}
		out[i] = n
	}
	return out, nil
}

// inert stands for a global the reader does not interpret; calling it,
// constructing it or setting its state yields another inert value.
type inert struct{ module, name string }

func (i inert) Call(...any) (any, error)  { return &inertObject{class: i}, nil }
func (i inert) PyNew(...any) (any, error) { return &inertObject{class: i}, nil }

type inertObject struct{ class inert }

func (*inertObject) PySetState(any) error        { return nil }
func (*inertObject) PyDictSet(_, _ any) error    { return nil }
func (*inertObject) PySetAttr(string, any) error { return nil }

// load runs the unpickler, turning a panic inside it (a hostile program
// can reach one, such as an unhashable dict key) into an error.
func load(u *pickle.Unpickler) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("malformed pickle: %v", r)
		}
	}()
	return u.Load()
}
