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

//go:embed data/requests.txt
var requestsFile []byte

//go:embed data/glossary.txt
var glossaryFile []byte

//go:embed data/actions.txt
var actionsFile []byte

// Analyzer turns text into index terms and queries into weighted terms:
// folded syllables, syllable pairs as phrases, filler words dropped,
// abbreviations expanded, request verbs read as "cấp", English terms
// translated.
type Analyzer struct {
	stopWords   map[string]bool
	stopPhrases map[string][][]string // by first word, longest first
	requests    map[string]bool       // xin, làm …: the citizen asks for a paper to be issued
	synonyms    phrases
	glossary    phrases         // English → Vietnamese
	english     map[string]bool // the words of the glossary's keys and English request verbs
	actions     [][][]string    // by bit: the phrases of an action that changes a paper
	actionTerms [][][]string    // by bit, by phrase: its word (one word) or its pairs
	firstTime   [][]byte        // how a name says a first issuance, folded, in spaces: " cap moi "
	papers      [][]string      // terms of a phrase naming a paper (giấy phép, thẻ …)
}

const (
	// requestTerm is what a request verb reads as: the catalogue's verb.
	requestTerm = "cap"
	// requestWeight: the verb is implied, not typed.
	requestWeight = 0.5
)

// phrases maps folded keys (words joined by a space) to expansions; an empty
// expansion list drops the key.
type phrases struct {
	m     map[string][][]string
	first map[string]int // a key's first word → the most words of a key starting with it
}

func (p *phrases) load(b []byte, allowEmpty bool) error {
	p.m = map[string][][]string{}
	p.first = map[string]int{}
	return eachLine(b, func(l string) error {
		key, rest, ok := strings.Cut(l, "=")
		if !ok {
			return fmt.Errorf("line %q has no '='", l)
		}
		k := strings.Fields(vntext.Fold(key))
		if len(k) == 0 {
			return fmt.Errorf("line %q has an empty key", l)
		}
		ks := strings.Join(k, " ")
		if _, dup := p.m[ks]; dup {
			return fmt.Errorf("key %q is defined twice", ks)
		}
		var exps [][]string
		for _, e := range strings.Split(rest, "|") {
			if ew := strings.Fields(vntext.Fold(e)); len(ew) > 0 {
				exps = append(exps, ew)
			}
		}
		if len(exps) == 0 && !allowEmpty {
			return fmt.Errorf("line %q has no expansion", l)
		}
		p.m[ks] = exps
		p.first[k[0]] = max(p.first[k[0]], len(k))
		return nil
	})
}

// longest returns the length of the longest key starting at words[i] that ok
// accepts, and its expansions.
func (p *phrases) longest(words []string, i int, ok func(key []string) bool) (int, [][]string) {
	for n := min(p.first[words[i]], len(words)-i); n > 0; n-- {
		key := words[i]
		if n > 1 {
			key = strings.Join(words[i:i+n], " ")
		}
		if exps, found := p.m[key]; found && (ok == nil || ok(words[i:i+n])) {
			return n, exps
		}
	}
	return 0, nil
}

// NewAnalyzer loads the embedded word lists.
func NewAnalyzer() (*Analyzer, error) {
	a := &Analyzer{stopWords: map[string]bool{}, stopPhrases: map[string][][]string{}, requests: map[string]bool{},
		english: map[string]bool{}}
	err := eachLine(stopwordsFile, func(l string) error {
		w := strings.Fields(vntext.Fold(l))
		if len(w) == 1 {
			a.stopWords[w[0]] = true
		} else {
			a.stopPhrases[w[0]] = append(a.stopPhrases[w[0]], w)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("stopwords: %w", err)
	}
	for _, ps := range a.stopPhrases {
		sort.SliceStable(ps, func(i, j int) bool { return len(ps[i]) > len(ps[j]) })
	}
	err = eachLine(requestsFile, func(l string) error {
		if p, ok := strings.CutPrefix(l, "paper:"); ok {
			for _, e := range strings.Split(p, "|") {
				if w := strings.Fields(vntext.Fold(e)); len(w) > 0 {
					a.papers = append(a.papers, phraseTerms(w))
				}
			}
			return nil
		}
		w := strings.Fields(vntext.Fold(l))
		if len(w) != 1 {
			return fmt.Errorf("line %q: one word per line", l)
		}
		a.requests[w[0]] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("requests: %w", err)
	}
	err = eachLine(actionsFile, func(l string) error {
		first := strings.HasPrefix(l, "+")
		l = strings.TrimPrefix(l, "+")
		var ps [][]string
		for _, p := range strings.Split(l, "|") {
			if w := strings.Fields(vntext.Fold(p)); len(w) > 0 {
				ps = append(ps, w)
			}
		}
		switch {
		case len(ps) == 0:
			return fmt.Errorf("line %q is empty", l)
		case first:
			for _, p := range ps {
				a.firstTime = append(a.firstTime, []byte(" "+strings.Join(p, " ")+" "))
			}
			return nil
		}
		a.actions = append(a.actions, ps)
		ts := make([][]string, len(ps))
		for i, p := range ps {
			ts[i] = phraseTerms(p)
		}
		a.actionTerms = append(a.actionTerms, ts)
		return nil
	})
	if err != nil || len(a.actions) > 8 {
		return nil, fmt.Errorf("actions: %v (at most 8 kinds)", err)
	}
	if err := a.synonyms.load(synonymsFile, false); err != nil {
		return nil, fmt.Errorf("synonyms: %w", err)
	}
	if err := a.glossary.load(glossaryFile, true); err != nil {
		return nil, fmt.Errorf("glossary: %w", err)
	}
	for k := range a.glossary.m {
		for _, w := range strings.Fields(k) {
			a.english[w] = true
		}
	}
	for w := range a.requests {
		a.english[w] = true
	}
	return a, nil
}

// phraseTerms returns the index terms that say a phrase: its word if it has
// one, else its pairs.
func phraseTerms(p []string) []string {
	if len(p) == 1 {
		return p
	}
	out := make([]string, 0, len(p)-1)
	for i := 1; i < len(p); i++ {
		out = append(out, p[i-1]+" "+p[i])
	}
	return out
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

// splitWords splits words the way the index does: a slash between letters
// separates two words ("đăng ký/biển số"), one between digits does not
// (30/4/1975).
func splitWords(words []string) []string {
	split := false
	for _, w := range words {
		split = split || letterSlash(w) >= 0
	}
	if !split {
		return words
	}
	out := words[:0:0]
	for _, w := range words {
		for {
			i := letterSlash(w)
			if i < 0 {
				break
			}
			out = append(out, w[:i])
			w = w[i+1:]
		}
		out = append(out, w)
	}
	return out
}

// letterSlash returns the index of the first '/' of w with a letter on each
// side, or -1.
func letterSlash[S string | []byte](w S) int {
	for i := 1; i+1 < len(w); i++ {
		if w[i] == '/' && isLetterByte(w[i-1]) && isLetterByte(w[i+1]) {
			return i
		}
	}
	return -1
}

// isLetterByte: an ASCII letter or a byte of a multi-byte (Vietnamese) letter.
func isLetterByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= 0x80 }

// foldWords folds a text's words and writes numbers without leading zeros
// ("mức độ 02" and "muc 2" meet).
func foldWords(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		w = vntext.Fold(w)
		if len(w) > 1 && w[0] == '0' && isDigits(w) {
			w = strings.TrimLeft(w, "0")
			if w == "" {
				w = "0"
			}
		}
		out[i] = w
	}
	return out
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// viInitials are the initial consonants of Vietnamese syllables, longest first.
var viInitials = []string{"ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr",
	"b", "c", "d", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x", ""}

// viFinals are the final consonants of Vietnamese syllables.
var viFinals = map[string]bool{"": true, "c": true, "ch": true, "m": true, "n": true, "ng": true, "nh": true, "p": true, "t": true}

// vietnameseSyllable reports whether a folded word could be a Vietnamese
// syllable: an initial consonant, one to three vowels, a final consonant.
// "the", "an", "to" could; "birth", "card", "tax", "land" could not.
func vietnameseSyllable(w string) bool {
	for _, ini := range viInitials {
		if !strings.HasPrefix(w, ini) {
			continue
		}
		rest := w[len(ini):]
		v := 0
		for v < len(rest) && strings.IndexByte("aeiouy", rest[v]) >= 0 {
			v++
		}
		if v >= 1 && v <= 3 && viFinals[rest[v:]] {
			return true
		}
	}
	return false
}

// isEnglish reports whether a query (folded, typed without diacritics) is
// English: more of its words are English words of the glossary than
// Vietnamese syllables. Words that could be either ("the", "can"),
// abbreviations and numbers count for neither.
func (a *Analyzer) isEnglish(words []string) bool {
	some := false
	for _, w := range words {
		some = some || a.english[w]
	}
	if !some {
		return false
	}
	en, vi := 0, 0
	for _, w := range words {
		syl := vietnameseSyllable(w)
		switch {
		case a.english[w] && !syl:
			en++
		case syl && !a.english[w]:
			vi++
		}
	}
	return en > vi
}

// Term is one weighted query term.
type Term struct {
	Text   string
	Weight float64
}

// Query is an analysed query.
type Query struct {
	Terms   []Term
	Codes   []string // procedure codes typed as such (1.001612)
	Actions uint8    // the changes to a paper it names (bits of actions.txt)
	Paper   bool     // it requests something or names a paper (requests.txt)
}

var procedureCode = regexp.MustCompile(`^[0-9]\.[0-9]{6}$`)

// Query analyses a query without typo correction (tests, tools).
func (a *Analyzer) Query(q string) Query { return a.analyze(q, nil) }

// token is one word of a query on its way to terms.
type token struct {
	w      string
	weight float64
	brk    bool // no phrase with the word before (a translation's edge)
	filler bool
	paired bool // counts only in a pair (an implied "cấp": alone it says nothing)
}

// analyze turns a query into weighted terms: English terms translated,
// folded syllables and pairs, typos corrected by correct (which may be nil),
// abbreviations expanded, request verbs read as "cấp", fillers dropped, and
// exact-diacritics terms for the words typed with accents.
func (a *Analyzer) analyze(q string, correct func(string) (string, bool)) Query {
	var out Query
	raw := splitWords(vntext.Words(q))
	weights := map[string]float64{}
	add := func(t string, w float64) {
		if w > weights[t] {
			weights[t] = w
		}
	}
	addPhrase := func(ts []token, w float64) {
		for i, t := range ts {
			if !t.paired {
				add(t.w, w*t.weight)
			}
			if i > 0 && !t.brk {
				add(ts[i-1].w+" "+t.w, w*phraseBoost*min(ts[i-1].weight, t.weight))
			}
		}
	}
	plain := func(ws []string) []token {
		ts := make([]token, len(ws))
		for i, w := range ws {
			ts[i] = token{w: w, weight: 1}
		}
		return ts
	}
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
	folded := foldWords(raw)
	// English terms become their Vietnamese names: always when a key is no
	// Vietnamese syllable ("birth", "card"), and in an English query also
	// when it could be one ("the", "an").
	english := !typedAccents && a.isEnglish(folded)
	unambiguous := func(key []string) bool {
		if english {
			return true
		}
		for _, w := range key {
			if vietnameseSyllable(w) {
				return false
			}
		}
		return true
	}
	toks := make([]token, 0, len(folded))
	brk := false // the word before was translated
	for i := 0; i < len(folded); {
		n, exps := a.glossary.longest(folded, i, unambiguous)
		if n == 0 {
			toks = append(toks, token{w: folded[i], weight: 1, brk: brk})
			brk = false
			i++
			continue
		}
		for k, e := range exps {
			ts := plain(e)
			ts[0].brk = true
			if k == 0 {
				toks = append(toks, ts...)
			} else {
				addPhrase(ts, 1/float64(k+1))
			}
		}
		brk = true
		i += n
	}
	// A word that is neither known nor an abbreviation may be a typo.
	for i, t := range toks {
		if correct == nil || a.stopWords[t.w] || a.requests[t.w] || a.synonyms.m[t.w] != nil {
			continue
		}
		if c, ok := correct(t.w); ok {
			toks[i].w, toks[i].weight = c, typoWeight
		}
	}
	// Expand the longest synonym key at each position, fillers included
	// ("xin phép xây dựng", "giấy tờ xe"); keep the typed words too.
	ws := make([]string, len(toks))
	for i, t := range toks {
		ws[i] = t.w
	}
	for i := 0; i < len(ws); {
		n, exps := a.synonyms.longest(ws, i, nil)
		if n == 0 {
			i++
			continue
		}
		// An abbreviation is one concept: its expansion should not
		// outweigh the other words typed beside it.
		for k, e := range exps {
			dilute := math.Sqrt(max(1, float64(len(e))/float64(n)))
			addPhrase(plain(e), 1/float64(k+1)/dilute)
		}
		i += n
	}
	a.markFillers(toks)
	// A request verb before what is requested reads as the catalogue's verb:
	// "xin giấy phép" is "cấp giấy phép": the pair only, at a discount (it is
	// implied; "cấp" alone says nothing).
	for i := range toks {
		if !a.requests[toks[i].w] || toks[i].filler {
			continue
		}
		toks[i].filler = true
		if j := i + 1; j < len(toks) && !toks[j].filler && !a.requests[toks[j].w] && toks[j].w != requestTerm {
			toks[i] = token{w: requestTerm, weight: requestWeight, brk: toks[i].brk, paired: true}
			out.Paper = true
		}
	}
	kept := toks[:0:0]
	for _, t := range toks {
		if !t.filler {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 { // nothing but fillers: search them
		kept = toks
	}
	// A word typed with diacritics matches its exact form fully (the accent
	// term above) and its other-accent forms at a discount.
	for i, t := range kept {
		if accented[t.w] {
			kept[i].weight *= accentDiscount
		}
	}
	addPhrase(kept, 1)
	// The actions named, typed or by a synonym: every syllable and pair of
	// one of their phrases is a term.
	for bit, ps := range a.actionTerms {
		for _, p := range ps {
			found := true
			for _, t := range p {
				found = found && weights[t] > 0
			}
			if found {
				out.Actions |= 1 << bit
				break
			}
		}
	}
	// A query that requests something or names a paper asks for a paper.
	for _, p := range a.papers {
		found := true
		for _, t := range p {
			found = found && weights[t] > 0
		}
		out.Paper = out.Paper || found
	}
	out.Terms = make([]Term, 0, len(weights))
	for t, w := range weights {
		out.Terms = append(out.Terms, Term{Text: t, Weight: w})
	}
	sort.Slice(out.Terms, func(i, j int) bool { return out.Terms[i].Text < out.Terms[j].Text })
	return out
}

// markFillers marks filler phrases and words.
func (a *Analyzer) markFillers(toks []token) {
	for i := 0; i < len(toks); {
		skip := 0
		for _, p := range a.stopPhrases[toks[i].w] {
			if i+len(p) <= len(toks) && phraseAt(toks[i:], p) {
				skip = len(p)
				break
			}
		}
		if skip > 0 {
			for k := i; k < i+skip; k++ {
				toks[k].filler = true
			}
			i += skip
			continue
		}
		toks[i].filler = a.stopWords[toks[i].w]
		i++
	}
}

func phraseAt(toks []token, p []string) bool {
	for i := range p {
		if toks[i].w != p[i] {
			return false
		}
	}
	return true
}

// docActions returns the actions a procedure's name starts with: a phrase of
// actions.txt within its first three words, after "thủ tục".
func (a *Analyzer) docActions(name string) uint8 {
	words := make([]string, 0, 8)
	vntext.ScanFolded(name, func(w []byte) bool {
		words = append(words, string(w))
		return len(words) < 8
	})
	if len(words) >= 2 && words[0] == "thu" && words[1] == "tuc" {
		words = words[2:]
	}
	var mask uint8
	for bit, ps := range a.actions {
		for _, p := range ps {
			for i := 0; i < 3 && i+len(p) <= len(words); i++ {
				if equal(words[i:i+len(p)], p) {
					mask |= 1 << bit
				}
			}
		}
	}
	return mask
}

// docFirstTime reports whether a procedure's name says a first issuance: a
// "+" phrase of actions.txt anywhere in it ("Cấp mới …", "… lần đầu").
func (a *Analyzer) docFirstTime(name string) bool {
	buf := make([]byte, 1, len(name)+2)
	buf[0] = ' '
	vntext.ScanFolded(name, func(w []byte) bool {
		buf = append(append(buf, w...), ' ')
		return true
	})
	for _, p := range a.firstTime {
		if bytes.Contains(buf, p) {
			return true
		}
	}
	return false
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
