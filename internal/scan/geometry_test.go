package scan

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// writeWithNibabel has nibabel write the shared 3 mm CT's voxels under
// several headers, and returns, per file, the voxel sizes nibabel's affine
// gives when it loads the file.
const writeWithNibabel = `
import sys, json, numpy as np, nibabel as nib
src, out = sys.argv[1], sys.argv[2]
data = np.asarray(nib.load(src).dataobj)
three = np.diag([3.0, 3.0, 3.0, 1.0])
def save(name, affine, pixdim=None, qcode=None, scode=None):
    img = nib.Nifti1Image(data, affine)
    h = img.header
    if pixdim is not None:
        h['pixdim'][1:4] = pixdim
    if qcode is not None:
        h['qform_code'] = qcode
    if scode is not None:
        h['sform_code'] = scode
    path = out + '/' + name + '.nii.gz'
    nib.save(img, path)
    back = nib.load(path)
    return [float(x) for x in np.sqrt((back.affine[:3, :3] ** 2).sum(axis=0))]
res = {
    'pixdim0_codes0': save('pixdim0_codes0', None, pixdim=[0, 0, 0]),
    'defaults_no_affine': save('defaults_no_affine', None),
    'qform_pixdim0': save('qform_pixdim0', None, pixdim=[0, 0, 0], qcode=1),
    'analyze_3mm': save('analyze_3mm', None, pixdim=[3, 3, 3]),
    'sform_pixdim0': save('sform_pixdim0', three, pixdim=[0, 0, 0], qcode=0, scode=2),
    'both_3mm': save('both_3mm', three),
}
json.dump(res, sys.stdout)
`

// TestNoGeometry: NIfTI files nibabel writes without a voxel size are
// refused; those that state one (even without qform and sform) are read
// with the spacing nibabel gives them.
func TestNoGeometry(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(testdata.Python(t), "-c", writeWithNibabel, testdata.Path(t, "totalsegmentator-example", "ct_3mm.nii.gz"), dir)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("nibabel: %v (needs python3-nibabel: apt-get install python3-nibabel)", err)
	}
	var zooms map[string][3]float64
	if err := json.Unmarshal(out, &zooms); err != nil {
		t.Fatal(err)
	}
	for name, refuse := range map[string]bool{
		"pixdim0_codes0":     true,
		"defaults_no_affine": true,
		"qform_pixdim0":      true,
		"analyze_3mm":        false,
		"sform_pixdim0":      false,
		"both_3mm":           false,
	} {
		t.Run(name, func(t *testing.T) {
			s, err := ReadFile(context.Background(), filepath.Join(dir, name+".nii.gz"), Options{})
			if refuse {
				if !errors.Is(err, volume.ErrNoGeometry) {
					t.Fatalf("err %v, want ErrNoGeometry (nibabel would take voxels of %v mm)", err, zooms[name])
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sp := s.CT.Spacing()
			for i := range 3 {
				if math.Abs(sp[i]-zooms[name][i]) > 1e-5 || math.Abs(sp[i]-3) > 1e-5 {
					t.Errorf("spacing %v, nibabel's affine gives %v; want 3 mm", sp, zooms[name])
				}
			}
		})
	}
	if !strings.Contains(volume.ErrNoGeometry.Error(), "voxel size") {
		t.Error("the sentinel should say what is missing")
	}
}
