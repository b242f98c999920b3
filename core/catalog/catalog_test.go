package catalog

import (
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestHashIgnoresFormattingNoise(t *testing.T) {
	base := Procedure{Code: "1.001193", Name: "Đăng ký khai sinh", Steps: "Bước 1: Nộp hồ sơ\nBước 2: Nhận kết quả", Fee: "Miễn phí"}
	noisy := base
	noisy.Name = norm.NFD.String("  Đăng  ký khai sinh ")
	noisy.Steps = "<p>Bước 1:&nbsp;Nộp hồ sơ</p>\r\n<p>Bước 2: Nhận kết quả</p>"
	if base.Hash() != noisy.Hash() {
		t.Fatal("HTML/NFD/whitespace noise changed the hash")
	}
	changed := base
	changed.Fee = "8.000 đồng"
	if base.Hash() == changed.Hash() {
		t.Fatal("a fee change did not change the hash")
	}
	cancelled := base
	cancelled.Status = Cancelled
	if base.Hash() == cancelled.Hash() {
		t.Fatal("cancellation did not change the hash")
	}
}

func TestDiff(t *testing.T) {
	old := Procedure{Code: "1", Name: "A", Fee: "50.000 đồng/hồ sơ", TimeLimit: "05 ngày làm việc",
		Documents: []Document{{Name: "Tờ khai"}}}
	new := old
	new.Fee = "70.000 đồng/hồ sơ"
	new.Documents = []Document{{Name: "Tờ khai"}, {Name: "Bản sao CCCD"}}
	got := Diff(old, new)
	if len(got) != 2 || got[0].Field != "thanh_phan_ho_so" || got[1].Field != "phi" {
		t.Fatalf("Diff = %+v", got)
	}
	if got[1].Old != "50.000 đồng/hồ sơ" || got[1].New != "70.000 đồng/hồ sơ" {
		t.Fatalf("excerpts %+v", got[1])
	}
	long := strings.Repeat("x", 500)
	o, n := excerpts(long+"abc"+long, long+"abd"+long, ExcerptLen)
	if !strings.Contains(o, "abc") || !strings.Contains(n, "abd") || len([]rune(o)) > ExcerptLen+2 {
		t.Fatalf("long excerpts not centred: %q / %q", o, n)
	}
}

func TestUpstreamRecord(t *testing.T) {
	raw := `{"id_hethong": "20799", "maso": "T-DNG-286034-TT", "ten": "Đăng ký khai sinh",
	  "thanh_phan_ho_so": [{"ten": "Tờ khai", "ban_chinh": "1", "ban_sao": 0, "bat_buoc": "Có"}],
	  "mau_don": [{"ten": "Mẫu tờ khai", "url": "https://x/y.docx"}], "muc_do": 4,
	  "can_cu_phap_ly": ["Luật Hộ tịch 2014"], "trang_thai": "huy_bo", "ngay_cap_nhat": "2024-03-05 14:22:10",
	  "unknown_field": {"ignored": true}}`
	var r UpstreamRecord
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		t.Fatal(err)
	}
	p, err := r.Procedure()
	if err != nil {
		t.Fatal(err)
	}
	if p.SystemID != 20799 || p.Status != Cancelled || p.OnlineLevel != "4" || len(p.Documents) != 1 ||
		!p.Documents[0].Required || p.Documents[0].Originals != 1 || p.Forms[0].URL != "https://x/y.docx" {
		t.Fatalf("procedure %+v", p)
	}
	if got := p.UpstreamUpdatedAt.Format("2006-01-02 15:04"); got != "2024-03-05 07:22" {
		t.Fatalf("ngay_cap_nhat in UTC = %s", got)
	}
	for _, bad := range []string{`{"maso": "1", "ten": "x", "trang_thai": "xoa"}`, `{"maso": "", "ten": "x"}`,
		`{"maso": "1", "ten": "x", "ngay_cap_nhat": "05/03/2024"}`} {
		var r UpstreamRecord
		if err := json.Unmarshal([]byte(bad), &r); err != nil {
			continue
		}
		if _, err := r.Procedure(); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestReadJSONL(t *testing.T) {
	in := `{"code": "1.001193", "name": "Đăng ký khai sinh", "field": "Hộ tịch", "level": "Cấp xã", "agency": "UBND cấp xã", "time_limit": null, "fee": "Miễn phí", "documents": ["Tờ khai"], "steps": "B1", "source": "x", "extra": {"competent_authority": "UBND", "result": "Giấy khai sinhMã: KQ.G15.000031Từ khóa", "applicants": "Công dân"}}

{"maso": "2.000884", "ten": "Chứng thực chữ ký", "trang_thai": "cong_bo"}
{"code": "1.001193", "name": "Đăng ký khai sinh (sửa)", "extra": {}}
`
	ps, err := ReadJSONL(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Name != "Đăng ký khai sinh (sửa)" || ps[1].Code != "2.000884" {
		t.Fatalf("got %+v", ps)
	}
	if _, err := ReadJSONL(strings.NewReader("{\"code\": \"1\", \"name\": \"x\"}\nnot json\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line error = %v", err)
	}
	if _, err := ReadJSONL(strings.NewReader(`{"code": "1"}`)); err == nil {
		t.Fatal("a record without a name was accepted")
	}
	ps, _ = ReadJSONL(strings.NewReader(strings.SplitN(in, "\n", 2)[0]))
	if ps[0].Result != "Giấy khai sinh" || ps[0].Authority != "UBND" || ps[0].Applicants != "Công dân" {
		t.Fatalf("extra fields: %+v", ps[0])
	}
}
