// Package searchtest generates large catalogues for the search's tests and
// benchmarks.
package searchtest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dvcbot/dvcbot/core/catalog"
)

// Provinces vary the generated copies the way provincial catalogues differ.
var Provinces = []string{"Hà Nội", "Huế", "Lai Châu", "Điện Biên", "Sơn La", "Lạng Sơn", "Quảng Ninh", "Thanh Hóa",
	"Nghệ An", "Hà Tĩnh", "Cao Bằng", "Tuyên Quang", "Lào Cai", "Thái Nguyên", "Phú Thọ", "Bắc Ninh", "Hưng Yên",
	"Hải Phòng", "Ninh Bình", "Quảng Trị", "Đà Nẵng", "Quảng Ngãi", "Gia Lai", "Khánh Hòa", "Lâm Đồng", "Đắk Lắk",
	"Hồ Chí Minh", "Đồng Nai", "Tây Ninh", "Cần Thơ", "Vĩnh Long", "Đồng Tháp", "Cà Mau", "An Giang"}

// Provincial returns n procedures generated from real ones: copies with new
// codes, a province in the name and agency, and the documents rotated. Its
// many near-copies make long posting lists and close scores, as 34
// provincial catalogues would.
func Provincial(real []catalog.Procedure, n int) []catalog.Procedure {
	out := make([]catalog.Procedure, 0, n)
	for i := range n {
		p := real[i%len(real)]
		if copyNo := i / len(real); copyNo > 0 {
			prov := Provinces[copyNo%len(Provinces)]
			p.Code = fmt.Sprintf("%d.%06d", 7+copyNo%3, i)
			p.Name = p.Name + " (" + prov + ")"
			p.Agency = strings.TrimSpace(p.Agency + " tỉnh " + prov)
			if len(p.Documents) > 1 {
				k := copyNo % len(p.Documents)
				p.Documents = append(slices.Clone(p.Documents[k:]), p.Documents[:k]...)
			}
		}
		out = append(out, p)
	}
	return out
}
