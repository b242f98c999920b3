package i18n

import "testing"

func BenchmarkT(b *testing.B) {
	c, err := New()
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name, lang, id string
		data           Data
	}{
		{"const", "vi", "timing_on_time", nil},
		{"field", "vi", "status_title", Data{"Code": "000.00.20.H17-261102-0004"}},
		{"int", "vi", "timing_overdue", Data{"Days": 3}},
		{"if", "vi", "status_4", Data{"Code": "000.00.20.H17-261102-0004", "Due": "15/11/2026", "Agency": "UBND"}},
		{"en", "en", "status_title", Data{"Code": "000.00.20.H17-261102-0004"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.T(bc.lang, bc.id, bc.data)
			}
		})
	}
}
