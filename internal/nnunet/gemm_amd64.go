package nnunet

import "golang.org/x/sys/cpu"

// haveKernel reports whether the AVX2+FMA micro-kernel can run here.
var haveKernel = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kernel4x16(k int, a *float32, lda int, b *float32, c *float32, ldc int)
