package citizen

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// The catalogue's text comes from the national portal as published, with
// its artefacts: a number with "(không ghi đơn vị)" when the unit was never
// entered, the same time limit repeated per channel, a fee entered both as
// phí and lệ phí, a result glued to the portal's page furniture. These
// helpers turn it into what a citizen can act on; "" means "nothing usable".

var (
	noUnitRe   = regexp.MustCompile(`(?i)^\s*[0-9]+([.,][0-9]+)?\s*\(\s*không ghi đơn vị\s*\)\s*$`)
	noUnitPart = regexp.MustCompile(`(?i)\(\s*không ghi đơn vị\s*\)`)
	unitRe     = regexp.MustCompile(`([0-9]) (Ngày|Giờ|Tháng|Năm|Tuần)\b`)
	resultJunk = regexp.MustCompile(`(Mã:\s*KQ\.|Từ khóa|Mô tả|Chọn cơ quan thực hiện)`)
)

// cleanTimeLimit: "1 (không ghi đơn vị)" says nothing a citizen can use and
// becomes ""; per-channel limits that agree collapse to one; units are
// written in lower case as in running text.
func cleanTimeLimit(s string) string {
	s = vntext.Clean(s)
	if s == "" || noUnitRe.MatchString(s) {
		return ""
	}
	type group struct {
		value  string
		labels []string
	}
	var groups []group
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		label, value, ok := strings.Cut(part, ":")
		if !ok {
			label, value = "", part
		}
		label, value = strings.TrimSpace(label), lowerUnits(strings.TrimSpace(value))
		if value == "" || noUnitPart.MatchString(value) || seen[label+"\x00"+value] {
			continue // an empty or unit-less entry, or the same entry twice
		}
		seen[label+"\x00"+value] = true
		found := false
		for i := range groups {
			if groups[i].value == value {
				groups[i].labels = appendNew(groups[i].labels, label)
				found = true
			}
		}
		if !found {
			groups = append(groups, group{value: value, labels: appendNew(nil, label)})
		}
	}
	switch len(groups) {
	case 0:
		return ""
	case 1:
		return groups[0].value
	}
	var out []string
	for _, g := range groups {
		if len(g.labels) == 0 {
			out = append(out, g.value)
			continue
		}
		out = append(out, strings.Join(g.labels, ", ")+": "+g.value)
	}
	return strings.Join(out, "; ")
}

func appendNew(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func lowerUnits(s string) string {
	return unitRe.ReplaceAllStringFunc(s, strings.ToLower)
}

// cleanFee joins phí and lệ phí, each possibly several " | " parts, and
// keeps every distinct part once: a fee entered in both fields, or a part
// that another part already contains, is shown once.
func cleanFee(fee, charge string) string {
	var parts []string
	for _, f := range []string{fee, charge} {
		for _, p := range strings.Split(vntext.Clean(f), " | ") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
	}
	var out []string
	for i, p := range parts {
		fp := compareKey(p)
		dup := false
		for j, q := range parts {
			fq := compareKey(q)
			if i != j && (fp == fq && j < i || fp != fq && strings.Contains(fq, fp)) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// compareKey is a text's letters and digits, folded: the portal's copies
// of one fee differ in brackets and spacing only.
func compareKey(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return -1
	}, vntext.Fold(s))
}

// cleanResult cuts the portal's page text glued after the result's name
// ("Giấy khai sinhMã: KQ.G15.000031Từ khóa…").
func cleanResult(s string) string {
	s = vntext.Clean(s)
	if loc := resultJunk.FindStringIndex(s); loc != nil {
		s = strings.TrimSpace(s[:loc[0]])
	}
	return s
}
