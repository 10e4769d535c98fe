package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"

	"github.com/iris-oculus/iris/internal/dicom"
)

// What a batch looks for in a folder.
const (
	findNIfTI = 1 << iota // .nii / .nii.gz files, by content
	findDICOM             // DICOM series: folders of DICOM files, and zips
)

// found is one input of a batch and the name of its output subfolder.
type found struct {
	path, name string
}

// findInputs expands the command line's inputs: a file is taken as given
// (its reading will say if it is no scan); a folder is searched, by content
// and not by name, for what kinds asks: NIfTI files, zips, and folders that
// hold DICOM files directly (each such folder one series). Hidden files and
// folders, and the folder skip (the batch's output), are passed over.
// Names are unique, made from each input's path below its folder.
func findInputs(args []string, kinds int, skip string) ([]found, error) {
	skipAbs, _ := filepath.Abs(skip)
	var out []found
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("%w: input %s: %v", errUsage, arg, err)
		}
		if !st.IsDir() {
			out = append(out, found{arg, nameFrom(filepath.Base(arg))})
			continue
		}
		fs, err := searchFolder(arg, kinds, skipAbs)
		if err != nil {
			return nil, fmt.Errorf("search %s: %w", arg, err)
		}
		if len(fs) == 0 {
			return nil, fmt.Errorf("%w: %s holds no scan (NIfTI file, DICOM series or zip)", errUsage, arg)
		}
		out = append(out, fs...)
	}
	// Unique names, in input order.
	seen := map[string]int{}
	for i := range out {
		n := out[i].name
		if seen[n] > 0 {
			out[i].name = fmt.Sprintf("%s-%d", n, seen[n]+1)
		}
		seen[n]++
	}
	return out, nil
}

func searchFolder(root string, kinds int, skipAbs string) ([]found, error) {
	series := map[string]bool{}
	var files []found
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if abs, _ := filepath.Abs(path); abs == skipAbs && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		head, err := readHead(path, 352)
		if err != nil {
			return nil // unreadable files are not scans we can take
		}
		rel, _ := filepath.Rel(root, path)
		switch {
		case kinds&findDICOM != 0 && dicom.IsZip(head):
			files = append(files, found{path, nameFrom(rel)})
		case kinds&findNIfTI != 0 && isNIfTIFile(path, head):
			files = append(files, found{path, nameFrom(rel)})
		case kinds&findDICOM != 0 && dicom.IsDICOM(head):
			series[filepath.Dir(path)] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for dir := range series {
		rel, _ := filepath.Rel(root, dir)
		name := rel
		if rel == "." {
			name = filepath.Base(root)
		}
		files = append(files, found{dir, nameFrom(name)})
	}
	slices.SortFunc(files, func(a, b found) int { return strings.Compare(a.path, b.path) })
	return files, nil
}

// readHead reads up to n bytes from the start of a file.
func readHead(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, n)
	m, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}

// isNIfTIFile checks a single-file NIfTI-1 or -2 header, through gzip when
// the file is gzip: sizeof_hdr and the magic.
func isNIfTIFile(path string, head []byte) bool {
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		f, err := os.Open(path)
		if err != nil {
			return false
		}
		defer f.Close()
		z, err := gzip.NewReader(f)
		if err != nil {
			return false
		}
		head = make([]byte, 352)
		n, _ := io.ReadFull(z, head)
		head = head[:n]
	}
	if len(head) < 348 {
		return false
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		switch order.Uint32(head) {
		case 348:
			if bytes.Equal(head[344:348], []byte("n+1\x00")) {
				return true
			}
		case 540:
			if bytes.Equal(head[4:8], []byte("n+2\x00")) {
				return true
			}
		}
	}
	return false
}

// nameFrom makes an output folder name from a path below a searched
// folder: extensions of scans dropped, folders joined with "_", anything
// but letters, digits, '.', '-' and '_' replaced, and a label map's generic
// file name ("labels", as iris segment writes) replaced by its folder's.
func nameFrom(rel string) string {
	rel = filepath.ToSlash(rel)
	lower := strings.ToLower(rel)
	for _, ext := range []string{".nii.gz", ".nii", ".zip"} {
		if strings.HasSuffix(lower, ext) && len(rel) > len(ext) {
			rel = rel[:len(rel)-len(ext)]
			break
		}
	}
	if i := strings.LastIndex(rel, "/"); i > 0 && strings.EqualFold(rel[i+1:], "labels") {
		rel = rel[:i]
	}
	var b strings.Builder
	for _, r := range rel {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('_')
		}
	}
	name := strings.Trim(b.String(), ".")
	if name == "" {
		name = "scan"
	}
	return name
}
