// Package nnunet runs nnU-Net v2 3d_fullres PlainConvUNet models on the CPU.
package nnunet
