package labels

import (
	"strconv"
	"strings"
)

// display derives a human name from a machine name. Single-word paired
// structures read as English ("Left kidney"); longer names keep the side
// last ("Gluteus maximus left") so that left and right sort together and
// the structure leads. A few names read better written out by hand.
func display(name string) string {
	if d := displayOverride(name); d != "" {
		return d
	}
	if rest, ok := strings.CutPrefix(name, "vertebrae_"); ok {
		return "Vertebra " + strings.ToUpper(rest)
	}
	for _, side := range [...]string{"left", "right"} {
		base, ok := strings.CutSuffix(name, "_"+side)
		if !ok || base == "" {
			continue
		}
		if !strings.Contains(base, "_") {
			return capitalize(side + " " + base)
		}
		return capitalize(words(base) + " " + side)
	}
	return capitalize(words(name))
}

func displayOverride(name string) string {
	switch name {
	case "lung_upper_lobe_left":
		return "Left lung upper lobe"
	case "lung_lower_lobe_left":
		return "Left lung lower lobe"
	case "lung_upper_lobe_right":
		return "Right lung upper lobe"
	case "lung_middle_lobe_right":
		return "Right lung middle lobe"
	case "lung_lower_lobe_right":
		return "Right lung lower lobe"
	case "atrial_appendage_left":
		return "Left atrial appendage"
	case "iliac_vena_left":
		return "Iliac vein left"
	case "iliac_vena_right":
		return "Iliac vein right"
	case "clavicula_left":
		return "Left clavicle"
	case "clavicula_right":
		return "Right clavicle"
	case "autochthon_left":
		return "Left autochthonous back muscles"
	case "autochthon_right":
		return "Right autochthonous back muscles"
	case "portal_vein_and_splenic_vein":
		return "Portal and splenic vein"
	}
	return ""
}

func words(name string) string { return strings.TrimSpace(strings.ReplaceAll(name, "_", " ")) }

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// system groups a class for UIs by its machine name; "other" when unknown.
func system(name string) string {
	switch {
	case strings.HasPrefix(name, "vertebrae_"), strings.HasPrefix(name, "rib_"):
		return "skeleton"
	case strings.HasPrefix(name, "lung_"):
		return "lungs"
	case strings.HasPrefix(name, "gluteus_"):
		return "muscles"
	}
	base := strings.TrimSuffix(strings.TrimSuffix(name, "_left"), "_right")
	switch base {
	case "skeleton", "sacrum", "skull", "sternum", "costal_cartilages",
		"hip", "femur", "humerus", "scapula", "clavicula":
		return "skeleton"
	case "trachea", "airways":
		return "lungs"
	case "aorta", "superior_vena_cava", "inferior_vena_cava", "portal_vein_and_splenic_vein",
		"iliac_artery", "iliac_vena", "pulmonary_vein", "brachiocephalic_trunk",
		"brachiocephalic_vein", "subclavian_artery", "common_carotid_artery":
		return "vessels"
	case "heart", "atrial_appendage":
		return "heart"
	case "iliopsoas", "autochthon", "skeletal_muscle":
		return "muscles"
	case "esophagus", "stomach", "duodenum", "small_bowel", "colon":
		return "digestive"
	case "thyroid_gland", "adrenal_gland":
		return "glands"
	case "brain", "spinal_cord":
		return "nervous"
	case "liver", "spleen", "pancreas", "kidney", "kidney_cyst", "gallbladder",
		"urinary_bladder", "prostate":
		return "organs"
	}
	return "other"
}

// FileName is the class name made safe for file names and glTF node names:
// lower case, runs of anything outside [a-z0-9] become one underscore, and an
// empty result becomes "label_<value>". Two different names may map to the
// same file name (e.g. "Liver" and "liver"); callers writing one file per
// class should key by value where that matters.
func (c Class) FileName() string {
	var b strings.Builder
	pending := false
	for _, r := range strings.ToLower(c.Name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if pending && b.Len() > 0 {
				b.WriteByte('_')
			}
			pending = false
			b.WriteRune(r)
			continue
		}
		pending = true
	}
	if b.Len() == 0 {
		return "label_" + strconv.Itoa(int(c.Value))
	}
	return b.String()
}
