package catalog

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// datasetRecord is one line of shared/data/tthc/procedures.jsonl.
type datasetRecord struct {
	Code      string   `json:"code"`
	Name      string   `json:"name"`
	Field     *string  `json:"field"`
	Level     *string  `json:"level"`
	Agency    *string  `json:"agency"`
	TimeLimit *string  `json:"time_limit"`
	Fee       *string  `json:"fee"`
	Documents []string `json:"documents"`
	Steps     *string  `json:"steps"`
	Extra     struct {
		CompetentAuthority *string `json:"competent_authority"`
		Applicants         *string `json:"applicants"`
		Result             *string `json:"result"`
		Conditions         *string `json:"conditions"`
		OnlineLevel        *string `json:"online_level"`
		SubmissionAddress  *string `json:"submission_address"`
		Decision           *string `json:"decision"`
	} `json:"extra"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (r datasetRecord) procedure() (Procedure, error) {
	p := Procedure{
		Code: r.Code, Name: r.Name, Field: str(r.Field), Level: str(r.Level), Agency: str(r.Agency),
		TimeLimit: str(r.TimeLimit), Fee: str(r.Fee), Steps: str(r.Steps),
		Authority: str(r.Extra.CompetentAuthority), Applicants: str(r.Extra.Applicants),
		Result: trimPortalNoise(str(r.Extra.Result)), Requirements: str(r.Extra.Conditions),
		OnlineLevel: str(r.Extra.OnlineLevel), Address: str(r.Extra.SubmissionAddress),
		Status: Published,
	}
	if d := str(r.Extra.Decision); d != "" {
		p.LegalBases = []string{d}
	}
	for _, d := range r.Documents {
		p.Documents = append(p.Documents, Document{Name: d})
	}
	return p, p.Validate()
}

// trimPortalNoise cuts the portal's widget text that the crawl glued to the
// result name ("Giấy khai sinhMã: KQ.G15.000031Từ khóa…").
func trimPortalNoise(s string) string {
	if i := strings.Index(s, "Mã: KQ"); i > 0 {
		return strings.TrimSpace(s[:i])
	}
	return s
}

// ReadJSONL reads procedures, one JSON object a line, in either the dataset
// format (code, name, …) or the upstream detail format (maso, ten, …). It
// stops at the first bad line and names it.
func ReadJSONL(r io.Reader) ([]Procedure, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	var out []Procedure
	seen := map[string]int{}
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p, err := parseLine([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if prev, dup := seen[p.Code]; dup {
			out[prev] = p // the later line wins, as a re-import would
			continue
		}
		seen[p.Code] = len(out)
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading procedures: %w", err)
	}
	return out, nil
}

func parseLine(b []byte) (Procedure, error) {
	var probe struct {
		Maso *string `json:"maso"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Procedure{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if probe.Maso != nil {
		var u UpstreamRecord
		if err := json.Unmarshal(b, &u); err != nil {
			return Procedure{}, err
		}
		return u.Procedure()
	}
	var d datasetRecord
	if err := json.Unmarshal(b, &d); err != nil {
		return Procedure{}, err
	}
	return d.procedure()
}

// ImportSummary counts what an import did.
type ImportSummary struct {
	Read, New, Modified, Cancelled, Restored, Unchanged int
}

func (s ImportSummary) String() string {
	return fmt.Sprintf("read %d, new %d, modified %d, cancelled %d, restored %d, unchanged %d",
		s.Read, s.New, s.Modified, s.Cancelled, s.Restored, s.Unchanged)
}

// Count adds changes to the summary.
func (s *ImportSummary) Count(changes []Change) {
	for _, c := range changes {
		switch c.Kind {
		case ChangeNew:
			s.New++
		case ChangeModified:
			s.Modified++
		case ChangeCancelled:
			s.Cancelled++
		case ChangeRestored:
			s.Restored++
		}
	}
}

// ImportBatch is how many procedures one import transaction holds.
const ImportBatch = 500

// Import applies procedures in batches; re-importing the same data changes
// nothing, and a changed record becomes a new version.
func Import(ctx context.Context, store Store, procs []Procedure, source string, now time.Time) (ImportSummary, error) {
	sum := ImportSummary{Read: len(procs)}
	for start := 0; start < len(procs); start += ImportBatch {
		batch := procs[start:min(len(procs), start+ImportBatch)]
		err := store.CatalogTx(ctx, func(ctx context.Context, tx Tx) error {
			changes, err := Apply(ctx, tx, batch, source, now)
			if err == nil {
				sum.Count(changes)
			}
			return err
		})
		if err != nil {
			return sum, fmt.Errorf("importing procedures %d-%d: %w", start+1, start+len(batch), err)
		}
	}
	sum.Unchanged = sum.Read - sum.New - sum.Modified - sum.Cancelled - sum.Restored
	return sum, nil
}

// ReadFile reads a JSONL file of procedures; a name ending in .gz is gunzipped.
func ReadFile(path string) ([]Procedure, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	procs, err := ReadJSONL(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return procs, nil
}
