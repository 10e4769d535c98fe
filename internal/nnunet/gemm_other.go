//go:build !amd64

package nnunet

var haveKernel = false

func kernel4x16(k int, a *float32, lda int, b *float32, c *float32, ldc int) {
	panic("kernel4x16 without amd64")
}
