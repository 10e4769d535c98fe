package labels

import (
	"fmt"
	"testing"
)

func TestPresentAndFileNames(t *testing.T) {
	if got := fmt.Sprint(Present([]uint16{0, 5, 2, 5, 0, 65535})); got != "[2 5 65535]" {
		t.Errorf("Present = %s", got)
	}
	xml := Caret([]Class{{Value: 7, Name: "liver"}})
	names, err := FileNames([]byte("not caret"), xml)
	if err != nil || names[7] != "liver" {
		t.Errorf("FileNames = %v, %v", names, err)
	}
	if names, err := FileNames([]byte("nothing")); names != nil || err != nil {
		t.Errorf("FileNames without a table = %v, %v", names, err)
	}
}
