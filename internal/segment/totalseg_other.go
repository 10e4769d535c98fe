//go:build !unix

package segment

import "os/exec"

// killGroupOnCancel leaves exec's default, killing the process alone:
// process groups are a Unix notion.
func killGroupOnCancel(*exec.Cmd) {}
