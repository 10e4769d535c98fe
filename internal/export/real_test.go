package export

import (
	"context"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/iris-oculus/iris/internal/labels"
	"github.com/iris-oculus/iris/internal/mesh"
	"github.com/iris-oculus/iris/internal/testdata"
	"github.com/iris-oculus/iris/internal/volume"
)

// TestWriteRealSegmentation exports TotalSegmentator's example
// segmentation (41 labels, 3 mm) as the pipeline does and checks the files
// with the reference readers: the Khronos validator for scene.glb, VTK for
// the STL, OBJ and GLB geometry, nibabel for labels.nii.gz.
func TestWriteRealSegmentation(t *testing.T) {
	im, err := volume.ReadFile(testdata.Path(t, "totalsegmentator-example", "ct_3mm_seg.nii.gz"), volume.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := im.LabelMap()
	if err != nil {
		t.Fatal(err)
	}
	surfaces, err := mesh.Build(context.Background(), lm, mesh.Options{Smooth: 0.5, Reduce: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	table := labels.TotalSegmentator()
	dir := t.TempDir()
	m, err := Write(dir, Source{File: "ct_3mm_seg.nii.gz", LabelMap: lm}, surfaces, table,
		Options{Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Smooth: 0.5, Reduce: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Organs) != 41 || m.Source.Orientation != "RAS" || m.Source.Spacing != [3]float64{3, 3, 3} {
		t.Errorf("%d organs, orientation %q, spacing %v; want 41, RAS, 3 mm", len(m.Organs), m.Source.Orientation, m.Source.Spacing)
	}
	total := 0
	for _, o := range m.Organs {
		total += o.Triangles
	}

	s := validateGLB(t, filepath.Join(dir, GLBFile))
	if s.Errors != 0 || s.Warnings != 0 || s.Info.TotalTriangleCount != total {
		t.Errorf("validator: %d errors, %d warnings, %d triangles (want 0, 0, %d): %v", s.Errors, s.Warnings, s.Info.TotalTriangleCount, total, s.Messages)
	}
	checkWithVTK(t, dir, m)

	names := map[uint16]string{}
	for _, sf := range surfaces {
		names[sf.Label] = table.Class(sf.Label).Name
	}
	checkLabelsWithNibabel(t, filepath.Join(dir, LabelsFile), lm, names)
}

// checkWithVTK reads every STL, scene.obj and scene.glb with VTK 9 and
// compares triangle counts, volumes, areas and bounds with the manifest.
// VTK's glTF reader warns that it does not know KHR_mesh_quantization but
// decodes normalized integer attributes and node transforms all the same.
func checkWithVTK(t *testing.T, dir string, m *Manifest) {
	t.Helper()
	script := `
import json, sys, vtk
vtk.vtkObject.GlobalWarningDisplayOff()
d = sys.argv[1]
m = json.load(open(d + "/manifest.json"))
out = {"stl": [], "glb": []}
for o in m["organs"]:
    r = vtk.vtkSTLReader(); r.SetFileName(d + "/" + o["files"]["stl"]); r.Update()
    p = r.GetOutput()
    mp = vtk.vtkMassProperties(); mp.SetInputData(p); mp.Update()
    out["stl"].append({"cells": p.GetNumberOfCells(), "volume": mp.GetVolume(), "area": mp.GetSurfaceArea(), "bounds": list(p.GetBounds())})
r = vtk.vtkOBJReader(); r.SetFileName(d + "/scene.obj"); r.Update()
out["objCells"] = r.GetOutput().GetNumberOfCells()
g = vtk.vtkGLTFReader(); g.SetFileName(d + "/scene.glb"); g.Update()
it = g.GetOutput().NewIterator(); it.InitTraversal()
while not it.IsDoneWithTraversal():
    b = it.GetCurrentDataObject()
    out["glb"].append({"cells": b.GetNumberOfCells(), "bounds": list(b.GetBounds())})
    it.GoToNextItem()
print(json.dumps(out))
`
	cmd := exec.Command(testdata.Python(t), "-c", script, dir)
	outb, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("VTK (apt-get install python3-vtk9): %v\n%s", err, stderr)
	}
	var got struct {
		STL []struct {
			Cells        int
			Volume, Area float64
			Bounds       [6]float64
		}
		ObjCells int
		GLB      []struct {
			Cells  int
			Bounds [6]float64
		}
	}
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.STL) != len(m.Organs) || len(got.GLB) != len(m.Organs) {
		t.Fatalf("VTK read %d STL and %d GLB meshes, want %d", len(got.STL), len(got.GLB), len(m.Organs))
	}
	total := 0
	for i, o := range m.Organs {
		total += o.Triangles
		st, gl := got.STL[i], got.GLB[i]
		if st.Cells != o.Triangles || gl.Cells != o.Triangles {
			t.Errorf("%s: VTK counts %d STL and %d GLB triangles, want %d", o.Name, st.Cells, gl.Cells, o.Triangles)
		}
		if math.Abs(st.Volume/1000-o.MeshVolumeMl) > 1e-3*o.MeshVolumeMl || math.Abs(st.Area/100-o.SurfaceAreaCm2) > 1e-3*o.SurfaceAreaCm2 {
			t.Errorf("%s: VTK measures %.3f mL, %.3f cm²; manifest %.3f mL, %.3f cm²", o.Name, st.Volume/1000, st.Area/100, o.MeshVolumeMl, o.SurfaceAreaCm2)
		}
		// The GLB box, mapped back from glTF metres: x = −X, y = Z, z = Y.
		glbMin := [3]float64{-gl.Bounds[1] * 1000, gl.Bounds[4] * 1000, gl.Bounds[2] * 1000}
		glbMax := [3]float64{-gl.Bounds[0] * 1000, gl.Bounds[5] * 1000, gl.Bounds[3] * 1000}
		for a := range 3 {
			if math.Abs(st.Bounds[2*a]-o.BBoxMm.Min[a]) > 1e-3 || math.Abs(st.Bounds[2*a+1]-o.BBoxMm.Max[a]) > 1e-3 ||
				math.Abs(glbMin[a]-o.BBoxMm.Min[a]) > 0.1 || math.Abs(glbMax[a]-o.BBoxMm.Max[a]) > 0.1 {
				t.Errorf("%s axis %d: manifest %.3f..%.3f mm, STL %.3f..%.3f, GLB %.3f..%.3f", o.Name, a,
					o.BBoxMm.Min[a], o.BBoxMm.Max[a], st.Bounds[2*a], st.Bounds[2*a+1], glbMin[a], glbMax[a])
				break
			}
		}
	}
	if got.ObjCells != total {
		t.Errorf("VTK reads %d OBJ triangles, want %d", got.ObjCells, total)
	}
}
