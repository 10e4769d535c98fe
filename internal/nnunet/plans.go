package nnunet

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Plans is what inference needs from an nnU-Net v2 plans.json, for one
// configuration.
type Plans struct {
	Configuration    string
	PatchSize        [3]int     // in network (transposed) axis order
	Spacing          [3]float64 // mm, network axis order
	TransposeForward [3]int
	Normalization    string    // "CTNormalization" is the only scheme supported
	Intensity        Intensity // foreground intensity properties of channel 0
	Arch             Arch
}

// Intensity is foreground_intensity_properties_per_channel["0"].
type Intensity struct {
	Mean          float64 `json:"mean"`
	Std           float64 `json:"std"`
	Percentile005 float64 `json:"percentile_00_5"`
	Percentile995 float64 `json:"percentile_99_5"`
}

// Arch is a PlainConvUNet's shape: per encoder stage its features, kernel,
// stride (of its first convolution) and number of convolutions, and per
// decoder stage (from the bottom up) its number of convolutions.
type Arch struct {
	Features     []int
	Kernels      [][3]int
	Strides      [][3]int
	ConvsEncoder []int
	ConvsDecoder []int
	Classes      int // output channels, background included
}

type plansFile struct {
	TransposeForward []int                      `json:"transpose_forward"`
	Configurations   map[string]json.RawMessage `json:"configurations"`
	Intensity        map[string]Intensity       `json:"foreground_intensity_properties_per_channel"`
}

type configFile struct {
	InheritsFrom  string    `json:"inherits_from"`
	PatchSize     []int     `json:"patch_size"`
	Spacing       []float64 `json:"spacing"`
	Normalization []string  `json:"normalization_schemes"`
	// nnU-Net <= 2.3 (TotalSegmentator's v2 weights)
	UNetClassName string  `json:"UNet_class_name"`
	BaseFeatures  int     `json:"UNet_base_num_features"`
	MaxFeatures   int     `json:"unet_max_num_features"`
	ConvsEncoder  []int   `json:"n_conv_per_stage_encoder"`
	ConvsDecoder  []int   `json:"n_conv_per_stage_decoder"`
	PoolKernels   [][]int `json:"pool_op_kernel_sizes"`
	ConvKernels   [][]int `json:"conv_kernel_sizes"`
	// nnU-Net >= 2.4
	Architecture *struct {
		ClassName string `json:"network_class_name"`
		Kwargs    struct {
			NStages      int             `json:"n_stages"`
			Features     []int           `json:"features_per_stage"`
			ConvOp       string          `json:"conv_op"`
			Kernels      [][]int         `json:"kernel_sizes"`
			Strides      [][]int         `json:"strides"`
			Convs        json.RawMessage `json:"n_conv_per_stage"`
			ConvsDecoder json.RawMessage `json:"n_conv_per_stage_decoder"`
			ConvBias     *bool           `json:"conv_bias"`
			NormOp       string          `json:"norm_op"`
			NormKwargs   struct {
				Eps    *float64 `json:"eps"`
				Affine *bool    `json:"affine"`
			} `json:"norm_op_kwargs"`
			DropoutOp    *string `json:"dropout_op"`
			Nonlin       string  `json:"nonlin"`
			NonlinKwargs struct {
				Slope *float64 `json:"negative_slope"`
			} `json:"nonlin_kwargs"`
		} `json:"arch_kwargs"`
	} `json:"architecture"`
}

// Dataset is what inference needs from dataset.json.
type Dataset struct {
	Labels   map[string]int // name -> class id, "background": 0
	Channels map[string]string
	Licence  string
	Name     string
}

// ParseDataset reads an nnU-Net v2 dataset.json. Region-based labels
// (a list of ids for one name) are refused.
func ParseDataset(b []byte) (*Dataset, error) {
	var f struct {
		Channels map[string]string          `json:"channel_names"`
		Labels   map[string]json.RawMessage `json:"labels"`
		Licence  string                     `json:"licence"`
		License  string                     `json:"license"`
		Name     string                     `json:"name"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("dataset.json: %w", err)
	}
	d := &Dataset{Labels: map[string]int{}, Channels: f.Channels, Licence: f.Licence, Name: f.Name}
	if d.Licence == "" {
		d.Licence = f.License
	}
	seen := map[int]string{}
	for name, raw := range f.Labels {
		var id int
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, fmt.Errorf("dataset.json: label %q is not one class id (region-based models are not supported)", name)
		}
		if id < 0 || id > 65535 {
			return nil, fmt.Errorf("dataset.json: label %q has id %d", name, id)
		}
		if other, dup := seen[id]; dup {
			return nil, fmt.Errorf("dataset.json: labels %q and %q share id %d", name, other, id)
		}
		seen[id] = name
		d.Labels[name] = id
	}
	if d.Labels["background"] != 0 || len(d.Labels) < 2 {
		return nil, errors.New("dataset.json: want background 0 and at least one class")
	}
	for id := range len(d.Labels) {
		if _, ok := seen[id]; !ok {
			return nil, fmt.Errorf("dataset.json: class ids are not 0..%d (missing %d)", len(d.Labels)-1, id)
		}
	}
	if len(d.Channels) != 1 {
		return nil, fmt.Errorf("dataset.json: %d input channels; only single-channel CT models are supported", len(d.Channels))
	}
	return d, nil
}

// ParsePlans reads an nnU-Net v2 plans.json (the schema of nnU-Net <= 2.3
// with UNet_class_name, and of >= 2.4 with architecture.arch_kwargs) for
// configuration cfg, with classes output channels. Only PlainConvUNet with
// nnU-Net's defaults (bias, affine instance norm with eps 1e-5, LeakyReLU
// 0.01, no dropout) and CTNormalization are accepted; anything else is
// refused rather than run wrongly.
func ParsePlans(b []byte, cfg string, classes int) (*Plans, error) {
	var f plansFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("plans.json: %w", err)
	}
	c, err := resolveConfig(f.Configurations, cfg, 0)
	if err != nil {
		return nil, err
	}
	p := &Plans{Configuration: cfg}
	if len(f.TransposeForward) != 3 || !isPerm(f.TransposeForward) {
		return nil, fmt.Errorf("plans.json: transpose_forward %v is not a permutation of 3 axes", f.TransposeForward)
	}
	copy(p.TransposeForward[:], f.TransposeForward)
	if len(c.PatchSize) != 3 || len(c.Spacing) != 3 {
		return nil, fmt.Errorf("plans.json: %s is not a 3D configuration", cfg)
	}
	for i := range 3 {
		if c.PatchSize[i] < 1 || c.PatchSize[i] > 1024 || !(c.Spacing[i] > 0) {
			return nil, fmt.Errorf("plans.json: patch %v spacing %v", c.PatchSize, c.Spacing)
		}
		p.PatchSize[i], p.Spacing[i] = c.PatchSize[i], c.Spacing[i]
	}
	if len(c.Normalization) != 1 || c.Normalization[0] != "CTNormalization" {
		return nil, fmt.Errorf("plans.json: normalization %v; only CTNormalization is supported", c.Normalization)
	}
	p.Normalization = c.Normalization[0]
	in, ok := f.Intensity["0"]
	if !ok {
		return nil, errors.New("plans.json: no foreground intensity properties for channel 0")
	}
	p.Intensity = in
	a := Arch{Classes: classes}
	var kernels, strides [][]int
	if c.Architecture != nil {
		k := c.Architecture.Kwargs
		if !strings.HasSuffix(c.Architecture.ClassName, ".PlainConvUNet") {
			return nil, fmt.Errorf("plans.json: network %q; only PlainConvUNet is supported", c.Architecture.ClassName)
		}
		if !strings.HasSuffix(k.ConvOp, "Conv3d") || !strings.HasSuffix(k.NormOp, "InstanceNorm3d") ||
			!strings.HasSuffix(k.Nonlin, "LeakyReLU") || k.DropoutOp != nil ||
			(k.ConvBias != nil && !*k.ConvBias) || (k.NormKwargs.Affine != nil && !*k.NormKwargs.Affine) ||
			(k.NormKwargs.Eps != nil && *k.NormKwargs.Eps != 1e-5) ||
			(k.NonlinKwargs.Slope != nil && *k.NonlinKwargs.Slope != 0.01) {
			return nil, errors.New("plans.json: only Conv3d + affine InstanceNorm3d (eps 1e-5) + LeakyReLU (0.01), with bias and no dropout, is supported")
		}
		a.Features, kernels, strides = k.Features, k.Kernels, k.Strides
		if a.ConvsEncoder, err = intOrList(k.Convs, k.NStages); err != nil {
			return nil, fmt.Errorf("plans.json: n_conv_per_stage: %w", err)
		}
		if a.ConvsDecoder, err = intOrList(k.ConvsDecoder, k.NStages-1); err != nil {
			return nil, fmt.Errorf("plans.json: n_conv_per_stage_decoder: %w", err)
		}
		if k.NStages != len(kernels) {
			return nil, fmt.Errorf("plans.json: n_stages %d but %d kernel sizes", k.NStages, len(kernels))
		}
	} else {
		if c.UNetClassName != "PlainConvUNet" {
			return nil, fmt.Errorf("plans.json: network %q; only PlainConvUNet is supported", c.UNetClassName)
		}
		kernels, strides = c.ConvKernels, c.PoolKernels
		for i := range kernels {
			f := c.BaseFeatures << i
			if i > 20 || f > c.MaxFeatures {
				f = c.MaxFeatures
			}
			a.Features = append(a.Features, f)
		}
		a.ConvsEncoder, a.ConvsDecoder = c.ConvsEncoder, c.ConvsDecoder
	}
	n := len(kernels)
	if n < 1 || n > 12 || len(strides) != n || len(a.Features) != n || len(a.ConvsEncoder) != n || len(a.ConvsDecoder) != n-1 {
		return nil, fmt.Errorf("plans.json: inconsistent stage lists (%d kernels, %d strides, %d features, %d/%d conv counts)",
			len(kernels), len(strides), len(a.Features), len(a.ConvsEncoder), len(a.ConvsDecoder))
	}
	div := [3]int{1, 1, 1}
	for s := range n {
		var k, st [3]int
		if len(kernels[s]) != 3 || len(strides[s]) != 3 {
			return nil, fmt.Errorf("plans.json: stage %d kernel %v stride %v", s, kernels[s], strides[s])
		}
		for i := range 3 {
			k[i], st[i] = kernels[s][i], strides[s][i]
			if k[i] < 1 || k[i] > 7 || k[i]%2 == 0 || st[i] < 1 || st[i] > 4 {
				return nil, fmt.Errorf("plans.json: stage %d kernel %v stride %v", s, k, st)
			}
			div[i] *= st[i]
		}
		if a.Features[s] < 1 || a.Features[s] > 4096 || a.ConvsEncoder[s] < 1 || a.ConvsEncoder[s] > 8 ||
			(s < n-1 && (a.ConvsDecoder[s] < 1 || a.ConvsDecoder[s] > 8)) {
			return nil, fmt.Errorf("plans.json: stage %d features %d convs %d", s, a.Features[s], a.ConvsEncoder[s])
		}
		a.Kernels = append(a.Kernels, k)
		a.Strides = append(a.Strides, st)
	}
	for i := range 3 {
		if p.PatchSize[i]%div[i] != 0 {
			return nil, fmt.Errorf("plans.json: patch %v is not divisible by the total stride %v", p.PatchSize, div)
		}
	}
	if classes < 2 {
		return nil, fmt.Errorf("plans: %d classes", classes)
	}
	p.Arch = a
	return p, nil
}

// resolveConfig follows inherits_from (nnU-Net's 3d_cascade_fullres style)
// with the child's keys overriding the parent's.
func resolveConfig(all map[string]json.RawMessage, name string, depth int) (configFile, error) {
	raw, ok := all[name]
	if !ok || depth > 4 {
		return configFile{}, fmt.Errorf("plans.json: no configuration %q", name)
	}
	var c configFile
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("plans.json: %s: %w", name, err)
	}
	if c.InheritsFrom == "" {
		return c, nil
	}
	var merged map[string]json.RawMessage
	parentRaw, ok := all[c.InheritsFrom]
	if !ok {
		return c, fmt.Errorf("plans.json: %s inherits from missing %q", name, c.InheritsFrom)
	}
	if err := json.Unmarshal(parentRaw, &merged); err != nil {
		return c, err
	}
	var child map[string]json.RawMessage
	_ = json.Unmarshal(raw, &child)
	for k, v := range child {
		merged[k] = v
	}
	delete(merged, "inherits_from")
	b, _ := json.Marshal(merged)
	all2 := map[string]json.RawMessage{}
	for k, v := range all {
		all2[k] = v
	}
	all2[name] = b
	return resolveConfig(all2, name, depth+1)
}

func intOrList(raw json.RawMessage, n int) ([]int, error) {
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return slices.Repeat([]int{one}, max(n, 0)), nil
	}
	var list []int
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("neither an int nor a list: %s", raw)
	}
	return list, nil
}

func isPerm(p []int) bool {
	seen := [3]bool{}
	for _, v := range p {
		if v < 0 || v > 2 || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}
