package search

import (
	"bufio"
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/dvcbot/dvcbot/core/vntext"
)

//go:embed data/synonyms.txt
var synonymsFile []byte

//go:embed data/stopwords.txt
var stopwordsFile []byte

// Analyzer turns text into index terms and queries into weighted terms:
// folded syllables, syllable pairs as phrases, filler words dropped,
// abbreviations expanded.
type Analyzer struct {
	stopWords   map[string]bool
	stopPhrases [][]string
	synonyms    map[string][][]string // folded key (words joined by space) → expansions
	maxKeyLen   int
}

// NewAnalyzer loads the embedded word lists.
func NewAnalyzer() (*Analyzer, error) {
	a := &Analyzer{stopWords: map[string]bool{}, synonyms: map[string][][]string{}}
	err := eachLine(stopwordsFile, func(l string) error {
		w := strings.Fields(vntext.Fold(l))
		if len(w) == 1 {
			a.stopWords[w[0]] = true
		} else {
			a.stopPhrases = append(a.stopPhrases, w)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stopwords: %w", err)
	}
	sort.SliceStable(a.stopPhrases, func(i, j int) bool { return len(a.stopPhrases[i]) > len(a.stopPhrases[j]) })
	err = eachLine(synonymsFile, func(l string) error {
		key, rest, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("line %q has no '='", l)
		}
		k := strings.Fields(vntext.Fold(key))
		if len(k) == 0 {
			return fmt.Errorf("line %q has an empty key", l)
		}
		for _, e := range strings.Split(rest, "|") {
			if ew := strings.Fields(vntext.Fold(e)); len(ew) > 0 {
				a.synonyms[strings.Join(k, " ")] = append(a.synonyms[strings.Join(k, " ")], ew)
			}
		}
		a.maxKeyLen = max(a.maxKeyLen, len(k))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("synonyms: %w", err)
	}
	return a, nil
}

func eachLine(b []byte, fn func(string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	return sc.Err()
}

// foldWords folds a text's words and writes numbers without leading zeros
// ("mức độ 02" and "muc 2" meet).
func foldWords(text string) []string {
	words := vntext.FoldWords(text)
	for i, w := range words {
		if len(w) > 1 && w[0] == '0' && isDigits(w) {
			words[i] = strings.TrimLeft(w, "0")
			if words[i] == "" {
				words[i] = "0"
			}
		}
	}
	return words
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Term is one weighted query term.
type Term struct {
	Text   string
	Weight float64
}

// Query is an analysed query.
type Query struct {
	Terms []Term
	Codes []string // procedure codes typed as such (1.001612)
}

var procedureCode = regexp.MustCompile(`^[0-9]\.[0-9]{6}$`)

// Query analyses a query without typo correction (tests, tools).
func (a *Analyzer) Query(q string) Query { return a.analyze(q, nil) }

// analyze turns a query into weighted terms: folded syllables and pairs,
// fillers dropped, abbreviations expanded, typos corrected by correct (which
// may be nil), and exact-diacritics terms for the words typed with accents.
func (a *Analyzer) analyze(q string, correct func(string) (string, bool)) Query {
	var out Query
	raw := vntext.Words(q)
	weights := map[string]float64{}
	add := func(t string, w float64) {
		if w > weights[t] {
			weights[t] = w
		}
	}
	words := make([]string, 0, len(raw))
	accented := map[string]bool{} // folded forms of the words typed with diacritics
	typedAccents := false
	for _, w := range raw {
		typedAccents = typedAccents || vntext.HasDiacritics(w)
	}
	for _, w := range raw {
		if procedureCode.MatchString(w) {
			out.Codes = append(out.Codes, w)
		}
		// Whoever types diacritics types them all: every word of such a
		// query also has an exact form.
		if typedAccents {
			add(accentPrefix+w, accentWeight)
			accented[vntext.Fold(w)] = true
		}
	}
	words = append(words, foldWords(strings.Join(raw, " "))...)
	words = a.dropFillers(words)
	// A word that is neither known nor an abbreviation may be a typo.
	fixed := make([]float64, len(words))
	for i, w := range words {
		fixed[i] = 1
		if correct == nil || a.stopWords[w] || a.synonyms[w] != nil {
			continue
		}
		if c, ok := correct(w); ok {
			words[i], fixed[i] = c, typoWeight
		}
	}
	addPhrase := func(ws []string, ww []float64, w float64) {
		for i, x := range ws {
			add(x, w*ww[i])
		}
		for i := 0; i+1 < len(ws); i++ {
			add(ws[i]+" "+ws[i+1], w*phraseBoost*min(ww[i], ww[i+1]))
		}
	}
	ones := func(n int) []float64 {
		o := make([]float64, n)
		for i := range o {
			o[i] = 1
		}
		return o
	}
	// Expand the longest synonym key at each position; keep the typed words too.
	for i := 0; i < len(words); {
		matched := 0
		for n := min(a.maxKeyLen, len(words)-i); n > 0; n-- {
			if exps, ok := a.synonyms[strings.Join(words[i:i+n], " ")]; ok {
				// An abbreviation is one concept: its expansion should not
				// outweigh the other words typed beside it.
				for k, e := range exps {
					dilute := math.Sqrt(max(1, float64(len(e))/float64(n)))
					addPhrase(e, ones(len(e)), 1/float64(k+1)/dilute)
				}
				matched = n
				break
			}
		}
		if matched == 0 {
			i++
			continue
		}
		i += matched
	}
	// A word typed with diacritics matches its exact form fully (the accent
	// term above) and its other-accent forms at a discount.
	for i, w := range words {
		if accented[w] {
			fixed[i] *= accentDiscount
		}
	}
	addPhrase(words, fixed, 1)
	for t, w := range weights {
		out.Terms = append(out.Terms, Term{t, w})
	}
	sort.Slice(out.Terms, func(i, j int) bool { return out.Terms[i].Text < out.Terms[j].Text })
	return out
}

// dropFillers removes filler phrases and words, unless nothing would remain.
func (a *Analyzer) dropFillers(words []string) []string {
	var out []string
	for i := 0; i < len(words); {
		skip := 0
		for _, p := range a.stopPhrases {
			if i+len(p) <= len(words) && equal(words[i:i+len(p)], p) {
				skip = len(p)
				break
			}
		}
		if skip > 0 {
			i += skip
			continue
		}
		if !a.stopWords[words[i]] {
			out = append(out, words[i])
		}
		i++
	}
	if len(out) == 0 {
		return words
	}
	return out
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
