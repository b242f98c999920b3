// Command demo-catalog picks the demo catalogue embedded in the binary from
// the full dataset: the fields citizens ask about most, plus named procedures.
//
//	go run ./scripts/demo-catalog ../shared/data/tthc/procedures.jsonl > core/demo/procedures.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
)

// fields in priority order; the catalogue is filled up to limit from them.
var fields = []string{
	"Hộ tịch", "Cấp, quản lý căn cước", "Đăng ký, quản lý cư trú", "Chứng thực",
	"Sát hạch, cấp giấy phép lái xe", "Đăng ký, quản lý phương tiện giao thông cơ giới, xe máy chuyên dùng",
	"Định danh và xác thực điện tử", "Thành lập và hoạt động của doanh nghiệp", "Hoạt động xây dựng",
	"Đất đai", "Thực hiện chính sách BHXH", "Nuôi con nuôi", "Quốc tịch", "Công chứng",
	"Quản lý xuất nhập cảnh", "Khám bệnh, chữa bệnh", "Trợ giúp pháp lý", "Nhà ở và công sở", "Bảo hiểm",
}

var mustHave = map[string]bool{
	"1.001193": true, "1.000894": true, "1.000656": true, "1.004222": true, "1.004194": true,
	"1.003677": true, "1.001612": true, "2.000884": true, "2.000815": true, "2.000635": true,
	"2.001159": true, "1.014064": true, "1.014063": true,
}

const limit = 400

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: demo-catalog procedures.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	byField := map[string][]string{}
	var must []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec struct {
			Code  string `json:"code"`
			Field string `json:"field"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if mustHave[rec.Code] {
			must = append(must, sc.Text())
			continue
		}
		byField[rec.Field] = append(byField[rec.Field], sc.Text())
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	n := 0
	for _, l := range must {
		fmt.Fprintln(w, l)
		n++
	}
	for _, field := range fields {
		for _, l := range byField[field] {
			if n == limit {
				return
			}
			fmt.Fprintln(w, l)
			n++
		}
	}
}
