//go:build openjpeg && cgo

package dicom

/*
#cgo pkg-config: libopenjp2
#include <stdint.h>
#include <string.h>
#include <openjpeg.h>

enum {
	IRIS_OK = 0,
	IRIS_ENOMEM,   // a codec or stream could not be created
	IRIS_ESETUP,   // decoder setup refused
	IRIS_EHEADER,  // the main header did not parse
	IRIS_ESIZE,    // the header's image differs from the expected size
	IRIS_ECOMP,    // a component is subsampled, of odd precision or missing
	IRIS_EDECODE,  // decoding failed (truncated or corrupt data)
};

typedef struct {
	const unsigned char *p;
	size_t n, pos;
} iris_mem;

typedef struct {
	char msg[240];
	int w, h, c, prec, sgnd;
} iris_out;

static OPJ_SIZE_T iris_read(void *buf, OPJ_SIZE_T n, void *ud) {
	iris_mem *m = ud;
	if (m->pos >= m->n) return (OPJ_SIZE_T)-1;
	size_t k = m->n - m->pos;
	if (k > n) k = n;
	memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return k;
}

static OPJ_OFF_T iris_skip(OPJ_OFF_T n, void *ud) {
	iris_mem *m = ud;
	if (n < 0) {
		if ((OPJ_UINT64)(-n) > m->pos) return -1;
		m->pos -= (size_t)(-n);
		return n;
	}
	size_t k = m->n - m->pos;
	if (k == 0) return -1;
	if ((OPJ_UINT64)n > k) n = (OPJ_OFF_T)k;
	m->pos += (size_t)n;
	return n;
}

static OPJ_BOOL iris_seek(OPJ_OFF_T n, void *ud) {
	iris_mem *m = ud;
	if (n < 0 || (OPJ_UINT64)n > m->n) return OPJ_FALSE;
	m->pos = (size_t)n;
	return OPJ_TRUE;
}

static void iris_on_error(const char *msg, void *ud) {
	iris_out *o = ud;
	if (o->msg[0] == 0 && msg) {
		strncpy(o->msg, msg, sizeof o->msg - 1);
		o->msg[sizeof o->msg - 1] = 0;
	}
}

static void iris_quiet(const char *msg, void *ud) { (void)msg; (void)ud; }

// iris_j2k_decode decodes one JPEG 2000 codestream (jp2: a JP2 file) of
// w×h pixels and c components into dst, w*h*c int32 samples interleaved by
// pixel. The header is read and checked before any tile is decoded;
// strict mode makes a truncated codestream an error instead of a partly
// zero image. One thread: the caller decodes frames in parallel.
static int iris_j2k_decode(const unsigned char *src, size_t n, int jp2,
                           int w, int h, int c, int32_t *dst, iris_out *o) {
	int rc = IRIS_OK;
	iris_mem m = {src, n, 0};
	opj_image_t *img = NULL;
	opj_stream_t *st = NULL;
	opj_dparameters_t par;
	opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
	if (!codec) return IRIS_ENOMEM;
	opj_set_error_handler(codec, iris_on_error, o);
	opj_set_warning_handler(codec, iris_quiet, NULL);
	opj_set_info_handler(codec, iris_quiet, NULL);
	opj_set_default_decoder_parameters(&par);
	if (!opj_setup_decoder(codec, &par) || !opj_decoder_set_strict_mode(codec, OPJ_TRUE) ||
	    !opj_codec_set_threads(codec, 0)) {
		rc = IRIS_ESETUP;
		goto out;
	}
	st = opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE);
	if (!st) {
		rc = IRIS_ENOMEM;
		goto out;
	}
	opj_stream_set_read_function(st, iris_read);
	opj_stream_set_skip_function(st, iris_skip);
	opj_stream_set_seek_function(st, iris_seek);
	opj_stream_set_user_data(st, &m, NULL);
	opj_stream_set_user_data_length(st, n);
	if (!opj_read_header(st, codec, &img) || !img) {
		rc = IRIS_EHEADER;
		goto out;
	}
	o->w = (int)(img->x1 - img->x0);
	o->h = (int)(img->y1 - img->y0);
	o->c = (int)img->numcomps;
	if (img->x1 < img->x0 || img->y1 < img->y0 || o->w != w || o->h != h || o->c != c) {
		rc = IRIS_ESIZE;
		goto out;
	}
	for (int i = 0; i < c; i++) {
		opj_image_comp_t *k = &img->comps[i];
		if (k->dx != 1 || k->dy != 1 || k->prec < 1 || k->prec > 31) {
			rc = IRIS_ECOMP;
			goto out;
		}
	}
	if (!opj_decode(codec, st, img) || !opj_end_decompress(codec, st)) {
		rc = IRIS_EDECODE;
		goto out;
	}
	for (int i = 0; i < c; i++) {
		opj_image_comp_t *k = &img->comps[i];
		if (!k->data || (int)k->w != w || (int)k->h != h) {
			rc = IRIS_ECOMP;
			goto out;
		}
	}
	size_t px = (size_t)w * (size_t)h;
	if (c == 1) {
		memcpy(dst, img->comps[0].data, px * sizeof(int32_t));
	} else {
		for (int i = 0; i < c; i++) {
			const OPJ_INT32 *d = img->comps[i].data;
			for (size_t j = 0; j < px; j++) dst[j * c + i] = d[j];
		}
	}
	o->prec = (int)img->comps[0].prec;
	o->sgnd = (int)img->comps[0].sgnd;
out:
	if (img) opj_image_destroy(img);
	if (st) opj_stream_destroy(st);
	opj_destroy_codec(codec);
	return rc;
}
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// j2kDecoder is OpenJPEG in builds with -tags openjpeg and cgo.
type j2kDecoder = openJPEGDecoder

// JPEG2000Decoder names the JPEG 2000 decoder compiled into this build.
func JPEG2000Decoder() string {
	return "OpenJPEG " + C.GoString(C.opj_version()) + " (cgo)"
}

// openJPEGDecoder decodes JPEG 2000 (.4.90 lossless, .4.91) with the
// system's libopenjp2, the reference decoder dcm2niix, GDCM and pydicom
// (through Pillow or pylibjpeg) use. One frame per call, single-threaded.
type openJPEGDecoder struct{}

func (d openJPEGDecoder) decode(src []byte, f frameInfo, dst []int32) error {
	// The SIZ segment and the marker layout are checked against the DICOM
	// header before OpenJPEG sees the codestream.
	if err := checkJ2K(src, f); err != nil {
		return err
	}
	return d.decodeUnchecked(src, f, dst)
}

// decodeUnchecked is decode without checkJ2K, for the tests that show
// OpenJPEG's own guards: the C side checks the parsed header against f
// before decoding (strict mode: a truncated codestream is an error) and
// writes only f.len() samples into dst.
func (openJPEGDecoder) decodeUnchecked(src []byte, f frameInfo, dst []int32) error {
	if len(src) == 0 {
		return fmt.Errorf("%w: empty JPEG 2000 codestream", ErrCorrupt)
	}
	if len(dst) < f.len() {
		return fmt.Errorf("JPEG 2000: a buffer of %d samples for a %d-sample frame", len(dst), f.len())
	}
	jp2 := 0
	if len(src) >= 12 && string(src[4:8]) == "jP  " {
		jp2 = 1
	}
	var o C.iris_out
	rc := C.iris_j2k_decode((*C.uchar)(unsafe.Pointer(&src[0])), C.size_t(len(src)), C.int(jp2),
		C.int(f.Cols), C.int(f.Rows), C.int(f.Samples), (*C.int32_t)(unsafe.Pointer(&dst[0])), &o)
	if rc != C.IRIS_OK {
		return openJPEGError(rc, &o, f)
	}
	j2kSigned(dst[:f.len()], f, int(o.prec), o.sgnd != 0)
	return nil
}

func openJPEGError(rc C.int, o *C.iris_out, f frameInfo) error {
	msg := C.GoString(&o.msg[0])
	if msg != "" {
		msg = ": " + msg
	}
	var what string
	switch rc {
	case C.IRIS_ENOMEM:
		what = "out of memory"
	case C.IRIS_ESETUP:
		what = "decoder setup failed"
	case C.IRIS_EHEADER:
		what = "unreadable main header"
	case C.IRIS_ESIZE:
		return fmt.Errorf("%w: JPEG 2000 image is %d×%d×%d, the DICOM header says %d×%d×%d",
			ErrCorrupt, o.w, o.h, o.c, f.Cols, f.Rows, f.Samples)
	case C.IRIS_ECOMP:
		what = "a component is subsampled, missing or of unsupported precision"
	default:
		what = "truncated or corrupt codestream"
	}
	return fmt.Errorf("%w: JPEG 2000 (OpenJPEG): %s%s", ErrCorrupt, what, trimNewline(msg))
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == ' ') {
		s = s[:len(s)-1]
	}
	return s
}
