// Package nationaldb is the client of the national procedures database feed
// (nationaldb-api.md): procedures modified in a time window, page by page,
// and one procedure's details, with per-request timeouts, retries with
// exponential back-off and jitter on 5xx, timeouts and resets, and bounded
// concurrency for detail fetches.
package nationaldb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// PageSize is the most items a list page holds.
const PageSize = 500

// ErrNotFound is returned for an unknown procedure.
var ErrNotFound = errors.New("procedure not found upstream")

// ErrInvalid is returned for a procedure whose record cannot be used: a
// field of the wrong type, no name, an unknown status. Asking again gets the
// same record, so it is not retried.
var ErrInvalid = errors.New("procedure record is invalid")

// errMalformed is JSON of the wrong shape: unlike an error page, it is what
// the portal will answer again.
var errMalformed = errors.New("answer does not follow the feed's contract")

// Client talks to one province's procedures portal.
type Client struct {
	base        *url.URL
	dept        string
	http        *http.Client
	concurrency int
	timeout     time.Duration
	maxElapsed  time.Duration
	initial     time.Duration
	log         *slog.Logger
	counter     *prometheus.CounterVec
}

// Option configures a Client.
type Option func(*Client)

// WithConcurrency bounds parallel detail requests (DVCBOT_NATIONALDB_CONCURRENCY).
func WithConcurrency(n int) Option { return func(c *Client) { c.concurrency = max(1, n) } }

// WithTimeout sets the per-request timeout.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithRetry sets the first back-off interval and how long one request may be
// retried in total.
func WithRetry(initial, maxElapsed time.Duration) Option {
	return func(c *Client) { c.initial, c.maxElapsed = initial, maxElapsed }
}

// WithHTTPClient replaces the HTTP client.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithMetrics registers the request counter on reg.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *Client) { reg.MustRegister(c.counter) }
}

func (c *Client) requests(kind, outcome string) { c.counter.WithLabelValues(kind, outcome).Inc() }

// New returns a client for the portal at base (e.g. https://tthc.example.gov.vn).
func New(base *url.URL, dept string, opts ...Option) *Client {
	c := &Client{base: base, dept: dept, http: &http.Client{}, concurrency: 4, timeout: 20 * time.Second,
		maxElapsed: 2 * time.Minute, initial: 500 * time.Millisecond, log: slog.Default(),
		counter: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dvcbot_nationaldb_requests_total",
			Help: "Requests to the national database by kind and outcome (ok, retry, not_found, refused)."}, []string{"kind", "outcome"})}
	for _, o := range opts {
		o(c)
	}
	if c.http.Transport == nil {
		// Keep a connection per concurrent request alive: the default pool of
		// two idle connections would reconnect for every other request.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 2 * c.concurrency
		c.http.Transport = t
	}
	return c
}

// Concurrency is the bound on parallel detail requests.
func (c *Client) Concurrency() int { return c.concurrency }

// Item is one entry of a window's list.
type Item struct {
	SystemID  int64
	Code      string
	Name      string
	UpdatedAt time.Time
	Status    catalog.Status
}

type listItem struct {
	SystemID json.Number `json:"id_hethong"`
	Code     string      `json:"maso"`
	Name     string      `json:"ten"`
	Updated  string      `json:"ngay_cap_nhat"`
	Status   string      `json:"trang_thai"`
}

type listPage struct {
	Status     string          `json:"status"`
	Message    string          `json:"message"`
	Page       int             `json:"page"`
	TotalPages int             `json:"total_pages"`
	Total      int             `json:"total"`
	Data       json.RawMessage `json:"data"`
}

// FormatTime writes t the way the portal reads it: local time, Y-m-d H:i:s.
func FormatTime(t time.Time) string {
	return t.In(vntext.VietnamTime()).Format(catalog.UpstreamTimeLayout)
}

func (c *Client) endpoint(params url.Values) string {
	u := *c.base
	u.Path = u.Path + "/index.php"
	params.Set("option", "com_thutuchanhchinh")
	u.RawQuery = params.Encode()
	return u.String()
}

// List returns every procedure modified in [start, end), all pages.
func (c *Client) List(ctx context.Context, start, end time.Time) ([]Item, error) {
	var out []Item
	err := c.ListPages(ctx, start, end, func(items []Item) error {
		out = append(out, items...)
		return nil
	})
	return out, err
}

// ListPages calls fn with each page of the procedures modified in
// [start, end), in order, so a caller can start on the first page while the
// rest download. An error from fn stops the listing and is returned.
func (c *Client) ListPages(ctx context.Context, start, end time.Time, fn func([]Item) error) error {
	for page := 1; ; page++ {
		params := url.Values{"task": {"getListThutucFromDB"}, "dept_id": {c.dept},
			"startdate": {FormatTime(start)}, "enddate": {FormatTime(end)}, "page": {strconv.Itoa(page)}}
		var p listPage
		if err := c.get(ctx, "list", c.endpoint(params), &p); err != nil {
			return fmt.Errorf("listing %s – %s, page %d: %w", FormatTime(start), FormatTime(end), page, err)
		}
		if p.Status != "success" {
			return fmt.Errorf("listing page %d: upstream says %q: %s", page, p.Status, p.Message)
		}
		items, err := parsePage(page, p.Data)
		if err != nil {
			return err
		}
		if err := fn(items); err != nil {
			return err
		}
		if page >= p.TotalPages || len(items) == 0 {
			return nil
		}
	}
}

func parsePage(page int, data json.RawMessage) ([]Item, error) {
	var raw []listItem
	if len(data) > 0 && string(data) != "null" {
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, fmt.Errorf("listing page %d: data is not a list of procedures: %w", page, err)
		}
	}
	items := make([]Item, 0, len(raw))
	for _, it := range raw {
		id, err := it.SystemID.Int64()
		if err != nil {
			return nil, fmt.Errorf("listing page %d: id_hethong %q is not a number", page, it.SystemID)
		}
		updated, err := catalog.ParseUpstreamTime(it.Updated)
		if err != nil {
			return nil, fmt.Errorf("listing page %d, procedure %d: %w", page, id, err)
		}
		st, err := catalog.ParseUpstreamStatus(it.Status)
		if err != nil {
			return nil, fmt.Errorf("listing page %d, procedure %d: %w", page, id, err)
		}
		items = append(items, Item{SystemID: id, Code: it.Code, Name: it.Name, UpdatedAt: updated, Status: st})
	}
	return items, nil
}

type detailResponse struct {
	Status  string                  `json:"status"`
	Message string                  `json:"message"`
	Data    *catalog.UpstreamRecord `json:"data"`
}

// Detail fetches one procedure by its system id.
func (c *Client) Detail(ctx context.Context, id int64) (catalog.Procedure, error) {
	var d detailResponse
	err := c.get(ctx, "detail", c.endpoint(url.Values{"task": {"getThutuc"}, "id_hethong": {strconv.FormatInt(id, 10)}}), &d)
	if errors.Is(err, errMalformed) {
		return catalog.Procedure{}, fmt.Errorf("procedure %d: %w: %w", id, ErrInvalid, err)
	}
	if err != nil {
		return catalog.Procedure{}, fmt.Errorf("procedure %d: %w", id, err)
	}
	if d.Status != "success" || d.Data == nil {
		return catalog.Procedure{}, fmt.Errorf("procedure %d: %w (%s)", id, ErrNotFound, d.Message)
	}
	p, err := d.Data.Procedure()
	if err != nil {
		return catalog.Procedure{}, fmt.Errorf("procedure %d: %w: %w", id, ErrInvalid, err)
	}
	if p.SystemID == 0 {
		p.SystemID = id
	}
	return p, nil
}

// Details fetches the ids received until the channel closes, with at most
// Concurrency requests at a time, and calls fn with each procedure (from one
// goroutine at a time). A procedure the portal no longer knows or serves
// unusable is reported to skipped and left out. The first other error stops
// the fetches and is returned.
func (c *Client) Details(ctx context.Context, ids <-chan int64, fn func(catalog.Procedure) error, skipped func(id int64, err error)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Go(func() {
			for {
				var id int64
				select {
				case next, ok := <-ids:
					if !ok {
						return
					}
					id = next
				case <-ctx.Done():
					return
				}
				p, err := c.Detail(ctx, id)
				if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
					mu.Lock()
					skipped(id, err)
					mu.Unlock()
					continue
				}
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				if firstErr == nil {
					if err := fn(p); err != nil {
						firstErr = err
						cancel()
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// statusError is an HTTP answer that is not 200.
type statusError struct{ code int }

func (e *statusError) Error() string { return "HTTP " + strconv.Itoa(e.code) }

// get fetches one URL into v, retrying what a busy PHP site does: 5xx, 429,
// timeouts, resets. 4xx (but 404 on a detail, which is "not found") is final.
func (c *Client) get(ctx context.Context, kind, u string, v any) error {
	op := func() (struct{}, error) {
		err := c.once(ctx, u, v)
		var se *statusError
		switch {
		case err == nil:
			c.requests(kind, "ok")
			return struct{}{}, nil
		case errors.As(err, &se) && se.code == http.StatusNotFound:
			c.requests(kind, "not_found")
			return struct{}{}, backoff.Permanent(ErrNotFound)
		case errors.Is(err, errMalformed):
			c.requests(kind, "refused")
			return struct{}{}, backoff.Permanent(err)
		case errors.As(err, &se) && se.code < 500 && se.code != http.StatusTooManyRequests:
			c.requests(kind, "refused")
			return struct{}{}, backoff.Permanent(err)
		case ctx.Err() != nil:
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		c.requests(kind, "retry")
		c.log.Debug("upstream request will be retried", "kind", kind, "error", err)
		return struct{}{}, err
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = c.initial
	b.MaxInterval = 30 * time.Second
	_, err := backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(c.maxElapsed))
	return err
}

func (c *Client) once(ctx context.Context, u string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err // a reset mid-body: retried
	}
	if resp.StatusCode != http.StatusOK {
		return &statusError{resp.StatusCode}
	}
	if err := json.Unmarshal(body, v); err != nil {
		if json.Valid(body) {
			return fmt.Errorf("%w: %w", errMalformed, err)
		}
		// A PHP error page with status 200 is as transient as a 500.
		return fmt.Errorf("answer is not JSON: %w", err)
	}
	return nil
}
