package console

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/ticket"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// The hand-off inbox (issue 15): open tickets of the officer's agency and
// the unassigned ones, updated live (server-sent events), each with the
// whole conversation (the bot's turns included), the dossier's status, a
// reply box, assign, close and reopen. Config.Tickets enables it.

//go:embed web/inbox.js
var inboxJS []byte

func init() {
	routeTable = append(routeTable,
		routeDef{"GET", "/tickets", readAny, func(s *Server) apiHandler { return s.apiTickets }},
		routeDef{"GET", "/tickets/stats", readAny, func(s *Server) apiHandler { return s.apiTicketStats }},
		routeDef{"GET", "/tickets/{number}", readAny, func(s *Server) apiHandler { return s.apiTicket }},
		routeDef{"POST", "/tickets/{number}/reply", writeScope, func(s *Server) apiHandler { return s.apiTicketReply }},
		routeDef{"POST", "/tickets/{number}/assign", writeScope, func(s *Server) apiHandler { return s.apiTicketAssign }},
		routeDef{"POST", "/tickets/{number}/close", writeScope, func(s *Server) apiHandler { return s.apiTicketClose }},
		routeDef{"POST", "/tickets/{number}/reopen", writeScope, func(s *Server) apiHandler { return s.apiTicketReopen }},
	)
	for k, v := range inboxMessages {
		messages[k] = v
	}
}

// InboxRoutes lists the inbox's routes that are not JSON, for the README.
func InboxRoutes() []Route {
	return []Route{
		{"GET", "/console/inbox", "admin, leader (every agency); officer, viewer (own agency and unassigned)"},
		{"GET", "/console/inbox/{number}", "as the inbox; the forms: admin, officer (own agency)"},
		{"GET", "/console/api/v1/tickets/events", "as the inbox (server-sent events: one `ticket` event per change)"},
	}
}

var inboxMessages = map[string][2]string{
	"inbox":               {"Hộp thư hỗ trợ", "Hand-off inbox"},
	"ticket":              {"Phiếu", "Ticket"},
	"tickets.open":        {"Đang mở", "Open"},
	"tickets.closed":      {"Đã đóng", "Closed"},
	"tickets.all":         {"Tất cả", "All"},
	"ticket.kind":         {"Loại", "Kind"},
	"kind.question":       {"Hỏi cán bộ", "Question"},
	"kind.feedback":       {"Phản ánh, kiến nghị", "Feedback"},
	"kind.complaint":      {"Khiếu nại", "Complaint"},
	"ticket.channel":      {"Kênh", "Channel"},
	"ticket.unassigned":   {"Chưa phân công", "Unassigned"},
	"ticket.assignee":     {"Người xử lý", "Assignee"},
	"ticket.activity":     {"Hoạt động gần nhất", "Last activity"},
	"ticket.opened":       {"Mở lúc", "Opened"},
	"ticket.subject":      {"Nội dung", "Subject"},
	"ticket.conversation": {"Hội thoại", "Conversation"},
	"ticket.reply":        {"Trả lời người dân", "Reply to the citizen"},
	"ticket.send":         {"Gửi", "Send"},
	"ticket.assign":       {"Phân công", "Assign"},
	"ticket.assign.me":    {"Nhận xử lý", "Take it"},
	"ticket.close":        {"Đóng phiếu", "Close the ticket"},
	"ticket.reopen":       {"Mở lại phiếu", "Reopen"},
	"ticket.dossier":      {"Hồ sơ đang trao đổi", "Dossier under discussion"},
	"ticket.procedure":    {"Thủ tục", "Procedure"},
	"ticket.rating":       {"Mức hài lòng", "Satisfaction"},
	"author.citizen":      {"Người dân", "Citizen"},
	"author.bot":          {"Trợ lý tự động", "Assistant"},
	"author.officer":      {"Cán bộ", "Officer"},
	"author.system":       {"Hệ thống", "System"},
	"ticket.live":         {"Tự cập nhật", "Live"},
	"measures":            {"Chỉ số (30 ngày)", "Measures (30 days)"},
	"measure.opened":      {"Phiếu mở", "Opened"},
	"measure.first":       {"TG trả lời đầu (phút)", "First answer (min)"},
	"measure.close":       {"TG đóng (giờ)", "Time to close (h)"},
	"measure.satisfied":   {"Hài lòng / đánh giá", "Satisfied / rated"},
	"rating.1":            {"Hài lòng", "Satisfied"},
	"rating.2":            {"Bình thường", "Neutral"},
	"rating.3":            {"Không hài lòng", "Not satisfied"},
}

func (s *Server) desk() (*ticket.Desk, error) {
	if s.cfg.Tickets == nil {
		return nil, errStatus(http.StatusNotFound, "the hand-off inbox is not enabled")
	}
	return s.cfg.Tickets, nil
}

// inboxPages is the inbox page in the navigation (when enabled).
func (s *Server) inboxPages() []page {
	if s.cfg.Tickets == nil {
		return nil
	}
	return []page{{key: "inbox", acc: readAny, data: pageInbox}}
}

// registerInbox mounts the ticket pages, the live feed and the script.
func (s *Server) registerInbox() {
	if s.cfg.Tickets == nil {
		return
	}
	s.mux.HandleFunc("GET /console/static/inbox.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		_, _ = w.Write(inboxJS)
	})
	s.mux.HandleFunc("GET /console/api/v1/tickets/events", s.ticketEvents)
	s.mux.HandleFunc("GET /console/inbox/{number}", s.ticketPage)
	s.mux.HandleFunc("POST /console/inbox/{number}", s.ticketForm)
}

// ticketScope is the agency filter of the principal's inbox: its own
// agency (its tickets and the unassigned ones), or "" for every agency.
func ticketScope(r *http.Request, p Principal) (string, error) { return scopeAgency(r, p) }

func ticketVisible(p Principal, t ticket.Ticket) bool { return t.Agency == "" || p.InScope(t.Agency) }

// canAnswer: an officer of the ticket's agency (or of any agency for an
// unassigned ticket, which it then takes), or an admin.
func canAnswer(p Principal, t ticket.Ticket) bool {
	return p.Role == Admin || (p.Role == Officer && (t.Agency == "" || t.Agency == p.Agency))
}

func pathNumber(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(r.PathValue("number"), "#"), 10, 64)
	if err != nil || n <= 0 {
		return 0, errStatus(http.StatusBadRequest, "the ticket number must be a positive number")
	}
	return n, nil
}

func ticketErr(err error) error {
	switch {
	case errors.Is(err, ticket.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, ticket.ErrConflict):
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

func (s *Server) ticketFor(r *http.Request, p Principal) (ticket.Ticket, error) {
	d, err := s.desk()
	if err != nil {
		return ticket.Ticket{}, err
	}
	n, err := pathNumber(r)
	if err != nil {
		return ticket.Ticket{}, err
	}
	t, err := d.Store().Get(r.Context(), n)
	if err != nil {
		return ticket.Ticket{}, ticketErr(err)
	}
	if !ticketVisible(p, t) {
		return ticket.Ticket{}, errForbidden
	}
	return t, nil
}

// TicketView is a ticket with its conversation and dossier, as the inbox
// shows it.
type TicketView struct {
	Ticket       ticket.Ticket  `json:"ticket"`
	Conversation []ticket.Entry `json:"conversation"`
	Dossier      *DossierRow    `json:"dossier,omitempty"`
	CanAnswer    bool           `json:"can_answer"`
}

func (s *Server) ticketView(r *http.Request, p Principal, t ticket.Ticket) (TicketView, error) {
	d, _ := s.desk()
	conv, err := d.Store().Conversation(r.Context(), t)
	if err != nil {
		return TicketView{}, err
	}
	v := TicketView{Ticket: t, Conversation: conv, CanAnswer: p.CanWrite() && canAnswer(p, t)}
	if t.Dossier != "" {
		if row, err := s.cfg.Ops.Dossier(r.Context(), t.Dossier); err == nil {
			v.Dossier = &row
		}
	}
	if v.Conversation == nil {
		v.Conversation = []ticket.Entry{}
	}
	return v, nil
}

func (s *Server) listTickets(r *http.Request, p Principal) ([]ticket.Ticket, string, error) {
	d, err := s.desk()
	if err != nil {
		return nil, "", err
	}
	agency, err := ticketScope(r, p)
	if err != nil {
		return nil, "", err
	}
	state := r.URL.Query().Get("state")
	switch state {
	case "":
		state = ticket.Open
	case "all":
		state = ""
	case ticket.Open, ticket.Closed:
	default:
		return nil, "", errStatus(http.StatusBadRequest, "state must be open, closed or all")
	}
	list, err := d.Store().List(r.Context(), ticket.Filter{Agency: agency, State: state, Limit: limitOf(r)})
	if list == nil {
		list = []ticket.Ticket{}
	}
	return list, agency, err
}

func (s *Server) apiTickets(r *http.Request, p Principal) (any, error) {
	list, _, err := s.listTickets(r, p)
	return list, err
}

func (s *Server) apiTicket(r *http.Request, p Principal) (any, error) {
	t, err := s.ticketFor(r, p)
	if err != nil {
		return nil, err
	}
	return s.ticketView(r, p, t)
}

// ReplyRequest is the body of POST /tickets/{number}/reply.
type ReplyRequest struct {
	Text string `json:"text"`
}

func (s *Server) reply(r *http.Request, p Principal, t ticket.Ticket, text string) (ticket.Ticket, error) {
	if !canAnswer(p, t) {
		return ticket.Ticket{}, errForbidden
	}
	text = strings.TrimSpace(text)
	if text == "" || len([]rune(text)) > 2000 {
		return ticket.Ticket{}, errStatus(http.StatusBadRequest, "text must hold 1 to 2000 characters")
	}
	d, _ := s.desk()
	claim := ""
	if p.Role == Officer {
		claim = p.Agency
	}
	out, err := d.Answer(r.Context(), t.Number, ticket.Officer{ID: p.ID, Name: p.Name, Agency: p.Agency}, text, claim)
	if err != nil {
		return ticket.Ticket{}, ticketErr(err)
	}
	s.audit(r, p, "ticket.reply", t.Label(), "", asJSON(map[string]any{"channel": t.Channel, "chars": len([]rune(text))}))
	return out, nil
}

func (s *Server) apiTicketReply(r *http.Request, p Principal) (any, error) {
	t, err := s.ticketFor(r, p)
	if err != nil {
		return nil, err
	}
	var in ReplyRequest
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	return s.reply(r, p, t, in.Text)
}

// AssignRequest is the body of POST /tickets/{number}/assign: an account
// (0 or absent: the caller) and, for admins, an agency.
type AssignRequest struct {
	AccountID int64   `json:"account_id,omitempty"`
	Agency    *string `json:"agency,omitempty"`
}

func (s *Server) assign(r *http.Request, p Principal, t ticket.Ticket, in AssignRequest) (ticket.Ticket, error) {
	if !canAnswer(p, t) {
		return ticket.Ticket{}, errForbidden
	}
	if in.Agency != nil && p.Role != Admin && *in.Agency != p.Agency {
		return ticket.Ticket{}, errForbidden
	}
	id, name := p.ID, p.Name
	if in.AccountID != 0 && in.AccountID != p.ID {
		a, err := s.cfg.Store.Account(r.Context(), in.AccountID)
		if err != nil {
			return ticket.Ticket{}, err
		}
		agency := t.Agency
		if in.Agency != nil {
			agency = *in.Agency
		}
		if a.Closed || (a.Role != Admin && a.Role != Officer) || (agency != "" && a.Role == Officer && a.Agency != agency) {
			return ticket.Ticket{}, errStatus(http.StatusBadRequest, "the account must be an open officer account of the ticket's agency")
		}
		id, name = a.ID, a.Email
	} else if p.Kind != "account" {
		return ticket.Ticket{}, errStatus(http.StatusBadRequest, "an API key must name account_id")
	}
	agency := in.Agency
	if agency == nil && t.Agency == "" && p.Role == Officer {
		agency = &p.Agency // taking an unassigned ticket brings it into one's agency
	}
	d, _ := s.desk()
	out, err := d.Assign(r.Context(), t.Number, id, name, agency, p.Actor())
	if err != nil {
		return ticket.Ticket{}, ticketErr(err)
	}
	s.audit(r, p, "ticket.assign", t.Label(), asJSON(map[string]any{"assignee": t.AssigneeName, "agency": t.Agency}),
		asJSON(map[string]any{"assignee": out.AssigneeName, "agency": out.Agency}))
	return out, nil
}

func (s *Server) apiTicketAssign(r *http.Request, p Principal) (any, error) {
	t, err := s.ticketFor(r, p)
	if err != nil {
		return nil, err
	}
	var in AssignRequest
	if r.ContentLength != 0 {
		if err := decode(nil, r, &in); err != nil {
			return nil, err
		}
	}
	return s.assign(r, p, t, in)
}

func (s *Server) closeOrReopen(r *http.Request, p Principal, t ticket.Ticket, open bool) (ticket.Ticket, error) {
	if !canAnswer(p, t) {
		return ticket.Ticket{}, errForbidden
	}
	d, _ := s.desk()
	var (
		out ticket.Ticket
		err error
	)
	action := "ticket.close"
	if open {
		action = "ticket.reopen"
		out, err = d.Reopen(r.Context(), t.Number, p.Actor())
	} else {
		out, err = d.Close(r.Context(), t.Number, p.Actor(), ticket.ByOfficerEnd, true)
	}
	if err != nil {
		return ticket.Ticket{}, ticketErr(err)
	}
	s.audit(r, p, action, t.Label(), t.State, out.State)
	return out, nil
}

func (s *Server) apiTicketClose(r *http.Request, p Principal) (any, error) {
	t, err := s.ticketFor(r, p)
	if err != nil {
		return nil, err
	}
	return s.closeOrReopen(r, p, t, false)
}

func (s *Server) apiTicketReopen(r *http.Request, p Principal) (any, error) {
	t, err := s.ticketFor(r, p)
	if err != nil {
		return nil, err
	}
	return s.closeOrReopen(r, p, t, true)
}

// ticketStats are the measures of tickets opened in the period (?from=,
// ?to= as YYYY-MM-DD in Vietnam's time; default the last 30 days), per
// agency within the principal's scope.
func (s *Server) ticketStats(r *http.Request, p Principal) ([]ticket.AgencyStats, error) {
	d, err := s.desk()
	if err != nil {
		return nil, err
	}
	agency, err := ticketScope(r, p)
	if err != nil {
		return nil, err
	}
	to := s.now().Add(time.Minute)
	from := to.Add(-30 * 24 * time.Hour)
	loc := vntext.VietnamTime()
	if v := r.URL.Query().Get("from"); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "from must be YYYY-MM-DD")
		}
		from = t
	}
	if v := r.URL.Query().Get("to"); v != "" {
		t, err := time.ParseInLocation("2006-01-02", v, loc)
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "to must be YYYY-MM-DD")
		}
		to = t.AddDate(0, 0, 1)
	}
	list, err := d.Store().Stats(r.Context(), from, to, agency)
	if list == nil {
		list = []ticket.AgencyStats{}
	}
	return list, err
}

func (s *Server) apiTicketStats(r *http.Request, p Principal) (any, error) {
	return s.ticketStats(r, p)
}

// ticketEvents streams a `ticket` event (the ticket as JSON) for every
// change the principal may see: this replica's changes at once, other
// replicas' within the poll interval.
func (s *Server) ticketEvents(w http.ResponseWriter, r *http.Request) {
	p, ok, err := s.authenticate(r)
	if err != nil {
		httpx.Error(w, http.StatusServiceUnavailable, "the database did not answer")
		return
	}
	if !ok {
		httpx.Error(w, http.StatusUnauthorized, errNotSignedI.msg)
		return
	}
	d, err := s.desk()
	if err != nil {
		httpx.Error(w, http.StatusNotFound, err.Error())
		return
	}
	agency, err := ticketScope(r, p)
	if err != nil {
		httpx.Error(w, http.StatusForbidden, errForbidden.msg)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": dvcbot inbox\nretry: 2000\n\n")
	if rc.Flush() != nil {
		return
	}
	wake, stop := d.Hub().Subscribe()
	defer stop()
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	since := s.now().Add(-time.Second)
	sent := map[int64]int64{}
	for {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		list, err := d.Store().List(ctx, ticket.Filter{Agency: agency, Since: since.Add(-2 * time.Second), Limit: 500})
		cancel()
		if err == nil {
			for i := len(list) - 1; i >= 0; i-- {
				t := list[i]
				if sent[t.Number] >= t.Version {
					continue
				}
				sent[t.Number] = t.Version
				if t.UpdatedAt.After(since) {
					since = t.UpdatedAt
				}
				b, _ := json.Marshal(t)
				fmt.Fprintf(w, "event: ticket\ndata: %s\n\n", b)
			}
			if rc.Flush() != nil {
				return
			}
		}
		select {
		case <-r.Context().Done():
			return
		case <-wake:
		case <-poll.C:
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// --- pages -------------------------------------------------------------------

type inboxData struct {
	Tickets []ticket.Ticket
	Agency  string
	State   string
	Stats   []statRow
}

// statRow is an agency's measures with the averages in minutes and hours.
type statRow struct {
	ticket.AgencyStats
	FirstMin, CloseH string
}

func pageInbox(s *Server, r *http.Request, p Principal) (any, error) {
	list, agency, err := s.listTickets(r, p)
	if err != nil {
		return nil, err
	}
	stats, err := s.ticketStats(r, p)
	if err != nil {
		return nil, err
	}
	st := r.URL.Query().Get("state")
	if st == "" {
		st = ticket.Open
	}
	rows := make([]statRow, 0, len(stats))
	for _, a := range stats {
		row := statRow{AgencyStats: a}
		if a.Answered > 0 {
			row.FirstMin = strconv.FormatFloat(a.AvgFirstAnswerS/60, 'f', 1, 64)
		}
		if a.Closed > 0 {
			row.CloseH = strconv.FormatFloat(a.AvgCloseS/3600, 'f', 1, 64)
		}
		rows = append(rows, row)
	}
	return inboxData{Tickets: list, Agency: agency, State: st, Stats: rows}, nil
}

var inboxPage = page{key: "inbox", acc: readAny}

func (s *Server) ticketPage(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pageAuth(w, r, inboxPage)
	if !ok {
		return
	}
	s.renderTicket(w, r, p, "", "", http.StatusOK)
}

func (s *Server) renderTicket(w http.ResponseWriter, r *http.Request, p Principal, flash, errMsg string, status int) {
	d := s.base(w, r, &p, "inbox")
	d.Flash, d.Error = flash, errMsg
	if r.URL.Query().Get("ok") == "1" && flash == "" {
		d.Flash = tr(d.Lang, "done")
	}
	t, err := s.ticketFor(r, p)
	if err == nil {
		var v TicketView
		v, err = s.ticketView(r, p, t)
		d.Data = v
	}
	if err != nil {
		st, msg := s.pageError(r, p, err, d.Lang)
		d.Error = msg
		s.render(w, "error", st, d)
		return
	}
	d.Page = "ticket"
	s.render(w, "ticket", status, d)
}

func (s *Server) ticketForm(w http.ResponseWriter, r *http.Request) {
	p, ok := s.pageAuth(w, r, inboxPage)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	t, err := s.ticketFor(r, p)
	if err == nil && !p.CanWrite() {
		err = errForbidden
	}
	if err == nil {
		switch r.PostForm.Get("do") {
		case "reply":
			_, err = s.reply(r, p, t, r.PostForm.Get("text"))
		case "assign":
			var in AssignRequest
			if v := r.PostForm.Get("account_id"); v != "" {
				in.AccountID, _ = strconv.ParseInt(v, 10, 64)
			}
			if v, ok := r.PostForm["agency"]; ok && p.Role == Admin {
				a := strings.TrimSpace(v[0])
				in.Agency = &a
			}
			_, err = s.assign(r, p, t, in)
		case "close":
			_, err = s.closeOrReopen(r, p, t, false)
		case "reopen":
			_, err = s.closeOrReopen(r, p, t, true)
		default:
			http.Error(w, "unknown action", http.StatusBadRequest)
			return
		}
	}
	if err != nil {
		st, msg := s.pageError(r, p, err, lang(w, r))
		s.renderTicket(w, r, p, "", msg, st)
		return
	}
	http.Redirect(w, r, "/console/inbox/"+url.PathEscape(r.PathValue("number"))+"?ok=1", http.StatusSeeOther)
}
