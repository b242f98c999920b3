package citizen_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// seedTime is when the demo data was loaded; the clock moves from there.
var seedTime = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

type harness struct {
	t   testing.TB
	db  *store.DB
	bot *citizen.Bot
	now time.Time
}

func newHarness(t testing.TB, db *store.DB, opts ...citizen.Option) *harness {
	t.Helper()
	h := &harness{t: t, db: db, now: seedTime.Add(time.Hour)}
	opts = append([]citizen.Option{citizen.WithClock(func() time.Time { return h.now })}, opts...)
	h.bot, _ = citizentest.New(t, db, seedTime, opts...)
	return h
}

// user is one person on one channel.
type user struct {
	channel, id, phone string
	caps               message.Capabilities
}

var (
	web      = user{message.WebChat, "cookie-1", "", message.RichCaps()}
	web2     = user{message.WebChat, "cookie-2", "", message.RichCaps()}
	applicnt = user{message.SMS, "84905123456", "84905123456", message.SMSCaps(2, false)}
	stranger = user{message.SMS, "84912000111", "84912000111", message.SMSCaps(2, false)}
)

func (h *harness) say(u user, text string) message.Reply {
	h.t.Helper()
	h.now = h.now.Add(7 * time.Second) // stay under the rate limit
	return h.bot.Handle(context.Background(), message.Inbound{Channel: u.channel, UserID: u.id, Phone: u.phone,
		Text: text, Time: h.now}, u.caps)
}

// step is one message and what the reply must (not) contain.
type step struct {
	who     user
	text    string
	want    []string // substrings of the reply text
	notWant []string
	choices []string // substrings of choice labels, in order
}

func runScript(t *testing.T, h *harness, steps []step) {
	t.Helper()
	for i, s := range steps {
		r := h.say(s.who, s.text)
		for _, w := range s.want {
			if !strings.Contains(r.Text, w) {
				t.Fatalf("step %d %q: reply lacks %q:\n%s", i, s.text, w, r.Text)
			}
		}
		for _, w := range s.notWant {
			if strings.Contains(r.Text, w) {
				t.Fatalf("step %d %q: reply must not contain %q:\n%s", i, s.text, w, r.Text)
			}
		}
		if len(s.choices) > 0 {
			if len(r.Choices) < len(s.choices) {
				t.Fatalf("step %d %q: choices %+v, want %v", i, s.text, r.Choices, s.choices)
			}
			for k, c := range s.choices {
				if !strings.Contains(r.Choices[k].Label, c) {
					t.Fatalf("step %d %q: choice %d = %q, want %q", i, s.text, k, r.Choices[k].Label, c)
				}
			}
		}
		if s.who.caps.Plain {
			if !vntext.IsGSM7(r.Text) {
				t.Fatalf("step %d: SMS reply is not GSM-7: %q", i, r.Text)
			}
			if n := vntext.CountSMS(r.Text).Segments; n > s.who.caps.MaxSegments {
				t.Fatalf("step %d: SMS reply needs %d segments", i, n)
			}
			if len(r.Choices) > 0 {
				t.Fatalf("step %d: choices on a plain channel", i)
			}
		}
	}
}

const (
	codeOpen    = "000.00.20.H17-261102-0004" // DANG_XU_LY, on track, note
	codeLate    = "000.00.20.H17-261102-0005" // DANG_XU_LY, overdue
	codeSupp    = "000.00.20.H17-261102-0006" // CHO_BO_SUNG with a note
	codeReady   = "000.00.20.H17-261102-0010" // DA_XU_LY_XONG early
	codeDone    = "000.00.20.H17-261102-0011" // DA_TRA_KET_QUA
	codeExample = "000.00.20.H17-240305-0001" // DA_TRA_KET_QUA
)

func TestStatus(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	runScript(t, h, []step{
		{web, "DVC " + codeOpen, []string{"Hồ sơ " + codeOpen, "Đăng ký tạm trú", "Hồ sơ đang được giải quyết, hẹn trả ngày 25/11/2026", "Phạm T. D.", "Ngày tiếp nhận: 02/11/2026", "Tiếp theo:"}, []string{"Phạm Thị Dung", "0905", "Chuyển Công an", "Cán bộ"}, []string{"Tôi là người nộp"}},
		{web, "dvc 000 00 20 h17 261102 0005", []string{"hẹn trả ngày 20/11/2026 (quá hạn 2 ngày)"}, nil, nil},
		{web, "Đvc:000.00.20.H17–261102–0005", []string{codeLate}, nil, nil},
		{web, "hs 000.00.20.H17.261102.0006", []string{"Cần bổ sung", "bổ sung giấy tờ theo yêu cầu tại UBND phường Hải Châu"}, []string{"hợp đồng thuê"}, nil},
		{web, "tra cuu " + codeReady, []string{"Đã có kết quả, mời nhận kết quả", "trước hạn 3 ngày", "Mời bạn đánh giá"}, nil, []string{"Tôi là người nộp", "Rất hài lòng", "Hài lòng", "Không hài lòng"}},
		{web, codeDone, []string{"Đã trả kết quả"}, nil, nil}, // a bare code
		{web, "DVC " + codeOpen + " " + codeLate, []string{codeOpen, codeLate}, nil, nil},
		{web, "DVC 000.00.20.H17-261102-0999", []string{"Không tìm thấy hồ sơ 000.00.20.H17-261102-0999", "kiểm tra lại mã"}, []string{"error", "sql"}, nil},
		{web, "DVC 000.00.20.H17-261102-99", []string{"4 chữ số"}, nil, nil},
		{web, "DVC 000.00.20.H17-261102-4", []string{codeOpen}, nil, nil}, // short sequence that exists once padded
		{web, "DVC 000.00.20.H17-261302-0001", []string{"không phải ngày hợp lệ"}, nil, nil},
		{web, "DVC 000.00.20.H17-261102", []string{"thiếu phần số thứ tự"}, nil, nil},
		{web, "DVC 1.001193", []string{"mã thủ tục"}, nil, nil},
		{web, "DVC 00673810079", []string{"không theo định dạng"}, nil, nil},
		{web, "DVC", []string{"DVC <mã hồ sơ>"}, nil, nil},
		{web, "https://hcc.thanhhoa.gov.vn/portaldvc/KenhTin/tra-cuu.aspx?mahs=" + codeOpen, []string{"Hồ sơ " + codeOpen}, nil, nil},
	})
}

func TestStatusPrivacy(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	runScript(t, h, []step{
		// The applicant's phone sees the full name and the note.
		{applicnt, "DVC " + codeSupp, []string{"Ho so " + codeSupp, "Vo Thi Giang", "hop dong thue"}, nil, nil},
		// Anyone else sees the masked name and no note.
		{stranger, "DVC " + codeSupp, []string{"Vo T. G."}, []string{"Vo Thi Giang", "hop dong", "0905"}, nil},
		// On the web, proving the last 4 digits reveals the details.
		{web, "DVC " + codeSupp, []string{"Võ T. G."}, []string{"hợp đồng"}, []string{"Tôi là người nộp"}},
		{web, "XACMINH " + codeSupp, []string{"4 số cuối"}, nil, nil},
		{web, "1111", []string{"còn 4 lần"}, nil, nil},
		{web, "3456", []string{"Đã xác minh", "Võ Thị Giang", "hợp đồng thuê mặt bằng"}, nil, nil},
		// Another browser is still a stranger, and the failures of every
		// session count against the dossier.
		{web2, "DVC " + codeSupp, []string{"Võ T. G."}, []string{"hợp đồng"}, nil},
		{web2, "XACMINH", []string{"4 số cuối"}, nil, nil},
		{web2, "0000", []string{"còn 3 lần"}, nil, nil},
		{web2, "0001", []string{"còn 2 lần"}, nil, nil},
		{web2, "0002", []string{"còn 1 lần"}, nil, nil},
		{web2, "0003", []string{"tạm khóa xác minh", "bộ phận một cửa"}, nil, nil},
		{web2, "3456", []string{"tạm khóa xác minh"}, []string{"Đã xác minh", "Võ Thị Giang"}, nil}, // even the right digits now
		// The session verified before the lock keeps its view.
		{web, "DVC " + codeSupp, []string{"Võ Thị Giang"}, nil, nil},
	})
}

func TestSearchAndDetails(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	runScript(t, h, []step{
		{web, "dang ky khai sinh", []string{"Thủ tục phù hợp", "1. Thủ tục đăng ký khai sinh (1.001193)", "TIEP để xem kết quả tiếp theo"}, nil, []string{"1. Thủ tục đăng ký khai sinh", "2. ", "3. ", "Kết quả tiếp theo"}},
		{web, "1", []string{"Thủ tục đăng ký khai sinh (mã 1.001193)\nPhí, lệ phí: Miễn phí\nThời hạn giải quyết: chưa công bố rõ; vui lòng hỏi nơi nộp hồ sơ\nCơ quan thực hiện: Ủy ban nhân dân cấp xã\nThành phần hồ sơ (9):\n- "}, []string{"không ghi đơn vị"}, []string{"2. ", "3. ", "Kết quả tiếp theo"}},
		{web, "TIEP", []string{"Kết quả tiếp theo:\n1. "}, nil, nil},
		{web, "TIM cap lai can cuoc", []string{"Cấp lại thẻ căn cước"}, nil, nil},
		{web, "tim cap lai cccd", []string{"căn cước"}, nil, nil},
		{web, "TTHC dang ky tam tru", []string{"Đăng ký tạm trú"}, nil, nil},
		{web, "7", []string{"từ 1 đến 3"}, nil, nil},
		{web, "xyzzy qwerty", []string{"Không tìm thấy thủ tục nào"}, nil, nil},
		{web, "TIM", []string{"TIM <từ khóa>"}, nil, nil},
		{web, "TIM 1.014064", []string{"Cấp lại thẻ căn cước (mã 1.014064)", "Thời hạn giải quyết: 7 ngày làm việc"}, nil, nil},
		// SMS: accent-free and within two segments, cut at a word with the
		// hint on its own line; THEM reads on, TIEP pages the results.
		{applicnt, "tim dang ky khai sinh", []string{"dang ky khai sinh (1.001193)"}, nil, nil},
		{applicnt, "1", []string{"dang ky khai sinh (ma 1.001193)\nPhi, le phi: Mien phi\nThoi han giai quyet: chua cong bo ro", "Thanh phan ho so (9):\n- Truong hop tre em", "...\nGui THEM de doc tiep"}, nil, nil},
		{applicnt, "THEM", []string{"...quyen lap.\n- Van ban uy quyen", "\nGui THEM de doc tiep"}, nil, nil},
		{applicnt, "TIEP", []string{"Ket qua tiep theo:\n1. Thu tuc dang ky khai sinh ket hop"}, nil, nil},
	})
}

func TestHelpAndLanguage(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	runScript(t, h, []step{
		{web, "HD", []string{"Cách dùng", "DVC <mã hồ sơ>"}, nil, []string{"Ví dụ", "Gặp cán bộ", "English"}},
		{web, "?", []string{"Cách dùng"}, nil, nil},
		{web, "EN", []string{"Switched to English"}, nil, nil},
		{web, "DVC " + codeOpen, []string{"Dossier " + codeOpen, "Being processed, result due on 25/11/2026", "Next:"}, nil, nil},
		{web, "help", []string{"How to use"}, nil, []string{"Example", "Talk to a person", "Tiếng Việt"}},
		{web, "DVC 000.00.20.H17-261102-0999", []string{"was not found"}, nil, nil},
		{web, "find dang ky khai sinh", []string{"Procedures matching"}, nil, nil},
		{web, "VI", []string{"Đã chuyển sang tiếng Việt"}, nil, nil},
		{web, "DVC " + codeOpen, []string{"Hồ sơ đang được giải quyết"}, nil, nil},
		// The language is remembered per user, not globally.
		{web2, "DVC " + codeOpen, []string{"Hồ sơ đang được giải quyết"}, nil, nil},
	})
}

func TestRatingOnSMS(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	runScript(t, h, []step{
		{applicnt, "DVC " + codeReady, []string{"Ngo Thi Ngoc", "DG " + codeReady + " 1/2/3"}, nil, nil},
		{stranger, "DG " + codeReady + " 1", []string{"chi nguoi nop ho so"}, nil, nil},
		{applicnt, "DG " + codeOpen + " 1", []string{"chua co ket qua"}, nil, nil},
		{applicnt, "DG " + codeReady + " 3", []string{"ly do"}, nil, nil},
		{applicnt, "Phai di lai ba lan moi xong", []string{"Da ghi nhan", "Khong hai long"}, nil, nil},
		{applicnt, "dg " + codeReady + " rat hai long", []string{"Da cap nhat", "Rat hai long"}, nil, nil},
		{applicnt, "DG 000.00.20.H17-261102-0999 1", []string{"Khong tim thay"}, nil, nil},
		{applicnt, "DG xyz", []string{"DG <ma ho so> 1"}, nil, nil},
	})
	r, err := db.Ratings().Rating(context.Background(), codeReady)
	if err != nil || r.Level != rating.RatHaiLong || r.Channel != message.SMS || r.UserID != applicnt.id {
		t.Fatalf("stored rating %+v, %v", r, err)
	}
	audit, err := db.RatingAudit(context.Background(), codeReady)
	if err != nil || len(audit) != 2 || audit[0].Level != rating.KhongHaiLong || audit[0].Reason != "Phai di lai ba lan moi xong" ||
		!strings.Contains(audit[0].RawText, "DG "+codeReady+" 3") {
		t.Fatalf("audit %+v, %v", audit, err)
	}
	// After seven days the rating is locked.
	h.now = h.now.Add(rating.EditWindow + time.Hour)
	runScript(t, h, []step{{applicnt, "DG " + codeReady + " 2", []string{"qua 7 ngay"}, nil, nil}})
}

func TestRatingOnRichChannelWithVerificationAndCriteria(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	runScript(t, h, []step{
		{web, "DVC " + codeExample, []string{"Mời bạn đánh giá"}, nil, []string{"Rất hài lòng", "Hài lòng", "Không hài lòng"}},
		{web, "DG " + codeExample + " 3 thái độ chưa tốt", []string{"4 số cuối"}, nil, nil},
		{web, "3456", []string{"Đã ghi nhận", "Không hài lòng", "9 tiêu chí"}, nil, []string{"Có", "Không"}},
		{web, "Có", []string{"Tiêu chí 1/9", "Thái độ"}, nil, []string{"Rất hài lòng", "Hài lòng", "Không hài lòng", "Bỏ qua", "Dừng"}},
		{web, "Hài lòng", []string{"Tiêu chí 2/9"}, nil, nil},
		{web, "Bỏ qua", []string{"Tiêu chí 3/9"}, nil, nil},
		{web, "3", []string{"Tiêu chí 4/9"}, nil, nil},
		{web, "Dừng", []string{"Cảm ơn bạn đã đánh giá chi tiết"}, nil, nil},
		// Already verified in this session: words alone re-rate the last dossier.
		{web, "rat hai long", []string{"Đã cập nhật", "Rất hài lòng"}, nil, nil},
		{web, "Không", []string{"Cảm ơn bạn đã đánh giá"}, nil, nil},
	})
	r, err := db.Ratings().Rating(context.Background(), codeExample)
	if err != nil || r.Level != rating.RatHaiLong {
		t.Fatalf("rating %+v, %v", r, err)
	}
	audit, _ := db.RatingAudit(context.Background(), codeExample)
	first := audit[0]
	if first.Level != rating.KhongHaiLong || first.Reason != "thái độ chưa tốt" {
		t.Fatalf("first rating %+v", first)
	}
	crit := audit[2].Criteria
	if crit["a"] != rating.HaiLong || crit["c"] != rating.KhongHaiLong || len(crit) != 2 {
		t.Fatalf("criteria after a and c: %+v", crit)
	}
}

func TestRateLimitAndLength(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t), citizen.WithRateLimit(3), citizen.WithMaxLen(50))
	ctx := context.Background()
	send := func(text string) message.Reply {
		h.now = h.now.Add(time.Second)
		return h.bot.Handle(ctx, message.Inbound{Channel: message.WebChat, UserID: "spammer", Text: text}, message.RichCaps())
	}
	for i := range 3 {
		if r := send("HD"); !strings.Contains(r.Text, "Cách dùng") {
			t.Fatalf("message %d refused: %q", i, r.Text)
		}
	}
	if r := send("HD"); !strings.Contains(r.Text, "tối đa 3 tin") {
		t.Fatalf("4th message: %q", r.Text)
	}
	if r := send("HD"); r.Text != "" {
		t.Fatalf("5th message should be answered with silence, got %q", r.Text)
	}
	h.now = h.now.Add(time.Minute)
	if r := send(strings.Repeat("a ", 30)); !strings.Contains(r.Text, "quá dài") {
		t.Fatalf("long message: %q", r.Text)
	}
	if r := send("HD"); !strings.Contains(r.Text, "Cách dùng") {
		t.Fatalf("after a minute: %q", r.Text)
	}
}

func TestSessionsSurviveAReplica(t *testing.T) {
	db := storetest.Postgres(t)
	a := newHarness(t, db)
	b := newHarness(t, db) // a second replica over the same database
	b.now = a.now
	runScript(t, a, []step{{web, "dang ky khai sinh", []string{"1. Thủ tục đăng ký khai sinh"}, nil, nil}})
	b.now = a.now
	runScript(t, b, []step{{web, "1", []string{"Thủ tục đăng ký khai sinh (mã 1.001193)"}, nil, nil}})
	// Numbered results live 30 minutes.
	b.now = b.now.Add(31 * time.Minute)
	runScript(t, b, []step{{web, "1", nil, []string{"mã 1.001193"}, nil}})
}

// Every message id the bot names exists in the catalogue.
func TestBotUsesOnlyKnownMessages(t *testing.T) {
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, id := range tr.IDs("vi") {
		known[id] = true
	}
	files, _ := filepath.Glob("*.go")
	dynamic := regexp.MustCompile(`^(status|next|level|criterion|code_malformed)_$`)
	re := regexp.MustCompile(`b\.t\(tn, "([a-z_0-9]+)"`)
	used := map[string]bool{}
	for _, f := range files {
		src, _ := os.ReadFile(f)
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			used[m[1]] = true
		}
	}
	for _, s := range dossier.AllStatuses() {
		used["status_"+itoa(int(s))] = true
		used["next_"+itoa(int(s))] = true
	}
	for _, l := range rating.Levels() {
		used["level_"+string(l)] = true
	}
	for _, c := range rating.Criteria() {
		used["criterion_"+string(c)] = true
	}
	for _, p := range []vntext.CodeProblem{vntext.ProblemMissingSeq, vntext.ProblemMissingDate, vntext.ProblemBadDate, vntext.ProblemFutureDate, vntext.ProblemTooOld} {
		used["code_malformed_"+string(p)] = true
	}
	if len(used) < 60 {
		t.Fatalf("found only %d ids; is the pattern stale?", len(used))
	}
	for id := range used {
		if dynamic.MatchString(id) {
			continue // built at run time; the sets are listed above
		}
		if !known[id] {
			t.Errorf("the bot uses %q, which has no translation", id)
		}
	}
}

func itoa(n int) string {
	if n >= 10 {
		return string(rune('0'+n/10)) + string(rune('0'+n%10))
	}
	return string(rune('0' + n))
}
