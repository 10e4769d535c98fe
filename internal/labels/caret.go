package labels

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// CaretExtensionCode is the NIfTI extension code under which TotalSegmentator
// stores its label table: 0, NIfTI's "ignore", not a code registered for
// Caret. Other writers differ, which is why IsCaret looks at the content.
const CaretExtensionCode int32 = 0

// IsCaret reports whether a NIfTI extension's data holds a Caret label table.
func IsCaret(data []byte) bool {
	return bytes.Contains(data, []byte("<CaretExtension"))
}

type caretDoc struct {
	XMLName xml.Name `xml:"CaretExtension"`
	Volumes []struct {
		Table *struct {
			Labels []struct {
				Key  *string `xml:"Key,attr"`
				Name string  `xml:",chardata"`
			} `xml:"Label"`
		} `xml:"LabelTable"`
	} `xml:"VolumeInformation"`
}

// ParseCaret reads the label table of a Caret extension, as TotalSegmentator
// and Connectome Workbench write it: label value → name, names trimmed of
// surrounding space. Colours are ignored (ours come from the class tables).
// Anything after the closing </CaretExtension>, such as the NUL padding of
// a NIfTI extension, is ignored.
func ParseCaret(data []byte) (map[uint16]string, error) {
	if len(bytes.Trim(data, "\x00 \t\r\n")) == 0 {
		return nil, fmt.Errorf("caret extension: no data")
	}
	var doc caretDoc
	if err := xml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("caret extension: %w", err)
	}
	for _, vol := range doc.Volumes {
		if vol.Table == nil {
			continue
		}
		names := make(map[uint16]string, len(vol.Table.Labels))
		for i, l := range vol.Table.Labels {
			if l.Key == nil {
				return nil, fmt.Errorf("caret extension: label %d (%q) has no Key", i+1, l.Name)
			}
			k, err := strconv.ParseUint(strings.TrimSpace(*l.Key), 10, 16)
			if err != nil {
				return nil, fmt.Errorf("caret extension: label %q: key %q is not a label value in 0..65535", l.Name, *l.Key)
			}
			if _, dup := names[uint16(k)]; dup {
				return nil, fmt.Errorf("caret extension: key %d appears twice", k)
			}
			names[uint16(k)] = strings.TrimSpace(l.Name)
		}
		return names, nil
	}
	return nil, fmt.Errorf("caret extension: no VolumeInformation with a LabelTable")
}

// Caret writes classes (in the order given) as a Caret label table laid out
// byte for byte as TotalSegmentator's add_label_map_to_nifti does, so that
// its load_multilabel_nifti reads our label maps. It writes the class names
// and colours; the caller stores it as a NIfTI extension with
// CaretExtensionCode (NIfTI pads extensions to 16 bytes).
func Caret(classes []Class) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  <Date><![CDATA[2013-07-14T05:45:09]]></Date>   <VolumeInformation Index="0">   <LabelTable>`)
	b.WriteByte('\n')
	for _, c := range classes {
		fmt.Fprintf(&b, `<Label Key="%d" Red="%s" Green="%s" Blue="%s" Alpha="1"><![CDATA[%s]]></Label>`+"\n",
			c.Value, pyUnit(c.Color[0]), pyUnit(c.Color[1]), pyUnit(c.Color[2]), cdata(c.Name))
	}
	b.WriteByte('\n')
	b.WriteString(`  </LabelTable>  <StudyMetaDataLinkSet>  </StudyMetaDataLinkSet>  <VolumeType><![CDATA[Label]]></VolumeType>   </VolumeInformation></CaretExtension>`)
	b.WriteString("\n              ")
	return b.Bytes()
}

// pyUnit formats c/255 as Python's str(float) does: the shortest decimal that
// round-trips, always with a fractional part ("0.0", "1.0").
func pyUnit(c uint8) string {
	s := strconv.FormatFloat(float64(c)/255, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// cdata makes s safe inside <![CDATA[…]]>: the terminator is split across
// two sections, and characters XML 1.0 forbids are dropped.
func cdata(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>")
}
