// Package search is the in-process procedure search: an inverted index over
// folded Vietnamese syllables and syllable pairs (phrases), ranked by a
// field-weighted BM25 score, with abbreviations, filler words, one-typo
// tolerance and a bonus for exact diacritics.
package search

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Hit is one search result.
type Hit struct {
	Code   string  `json:"code"`
	Name   string  `json:"name"`
	Field  string  `json:"field"`
	Agency string  `json:"agency"`
	Score  float64 `json:"score"`
}

// field indexes.
const (
	fName     = iota // the name without its long parenthesised lists
	fNameNote        // its long parenthesised lists of sub-cases
	fField
	fAgency
	fResult
	fDocuments
	numFields
)

// fieldWeight is how much a match in each field counts.
var fieldWeight = [numFields]float64{fName: 4, fNameNote: 1.5, fField: 1.2, fAgency: 0.8, fResult: 1, fDocuments: 0.35}

const (
	k1 = 1.2
	b  = 0.75
	// phraseBoost: a syllable pair counts this much more than one syllable.
	phraseBoost = 1.5
	// accentWeight: an exact-diacritics match of a name syllable adds this much.
	accentWeight = 0.6
	// accentDiscount weighs the folded form of a word typed with diacritics.
	accentDiscount = 0.5
	// typoWeight discounts a syllable reached by correcting a typo.
	typoWeight = 0.7
	// maxQueryTerms is how many terms of a query are scored.
	maxQueryTerms = 12
	// shortList: posting lists up to this length are scanned first.
	shortList = 1024
	// maxDocTerms caps the indexed words of the documents field, which holds
	// long legal text: the first words name the document.
	maxDocTerms = 64
	// accentPrefix marks index terms that keep their diacritics.
	accentPrefix = "="
	// minNoteWords: a parenthesised part of a name this long is a list of
	// sub-cases, indexed apart (fNameNote); the qualifiers of 1 to 7 words
	// ("thực hiện tại cấp tỉnh") are most of them and stay in the name.
	minNoteWords = 8
	// actionPenalty scales the score of a procedure that changes a paper
	// (data/actions.txt) when the query names no such change.
	actionPenalty = 0.8
	// notFirstPenalty scales the score of a procedure whose name does not say
	// a first issuance (data/actions.txt, "+") when the query asks for a paper
	// and names no change.
	notFirstPenalty = 0.9
)

// posting is one (term, procedure) pair with its precomputed BM25F impact.
type posting struct {
	doc    int32
	impact float32
}

// Index is an immutable search index; build a new one to change it.
type Index struct {
	hits      []Hit
	terms     map[string]int32 // term → id
	post      [][]posting      // by term id, in doc order
	maxImpact []float32        // by term id
	byCode    map[string]int32
	changes   [9][]uint64 // bit sets by doc: [k] names that start with change k (actions.txt), [8] with any
	firsts    []uint64    // bit set by doc: names that say a first issuance ("cấp mới", "lần đầu")
	none      []uint64    // an empty bit set by doc
	an        *Analyzer
	typos     map[string][]string // a syllable with one letter deleted → syllables
	vocab     map[string]int      // syllable → document frequency
	accs      sync.Pool           // *accumulator
}

// Doc is what the index reads of a procedure.
type Doc struct {
	Code, Name, Field, Agency, Result string
	Documents                         []string
}

// DocOf projects a procedure onto the indexed fields.
func DocOf(p catalog.Procedure) Doc {
	docs := make([]string, len(p.Documents))
	for i, d := range p.Documents {
		docs[i] = d.Name
	}
	return Doc{Code: p.Code, Name: p.Name, Field: p.Field, Agency: p.Agency, Result: p.Result, Documents: docs}
}

// Build indexes the published procedures among procs.
func Build(procs []catalog.Procedure, an *Analyzer) *Index {
	docs := make([]Doc, 0, len(procs))
	for _, p := range procs {
		if p.Status != catalog.Cancelled {
			docs = append(docs, DocOf(p))
		}
	}
	return BuildDocs(docs, an)
}

// scanField calls fn with every index term of one field of d: folded
// syllables, then (except for documents) adjacent pairs, numbers without
// leading zeros. It returns the field's length in terms.
func (d *Doc) scanField(f int, fn func(term []byte)) int {
	switch f {
	case fName:
		head, _ := splitName(d.Name)
		return scanText(head, f, 0, fn)
	case fNameNote:
		_, note := splitName(d.Name)
		return scanText(note, f, 0, fn)
	case fField:
		return scanText(d.Field, f, 0, fn)
	case fAgency:
		return scanText(d.Agency, f, 0, fn)
	case fResult:
		return scanText(d.Result, f, 0, fn)
	}
	n := 0
	for _, doc := range d.Documents {
		if n >= maxDocTerms {
			break
		}
		n = scanText(doc, f, n, fn)
	}
	return n
}

// splitName separates a procedure's name from its long parenthesised lists
// (minNoteWords words or more: sub-cases, kinds of works): "Cấp giấy phép xây
// dựng mới đối với công trình cấp III, cấp IV (Công trình không theo tuyến/…/
// Dự án) và nhà ở riêng lẻ" names a house-building permit in 20 words, not 70.
// Such lists are a field of their own, so they neither dilute the name's
// length normalisation nor count as much as the name. A short qualifier
// ("(thực hiện tại cấp tỉnh)") stays in the name.
func splitName(name string) (head, note string) {
	if !hasLongList(name) { // most names: parentheses separate words anyway
		return name, ""
	}
	var h, n, seg strings.Builder
	depth := 0
	for _, r := range name {
		switch {
		case r == '(':
			depth++
			seg.WriteByte(' ')
		case r == ')' && depth > 0:
			depth--
			seg.WriteByte(' ')
			if depth == 0 {
				if len(strings.Fields(seg.String())) >= minNoteWords {
					n.WriteString(seg.String())
				} else {
					h.WriteString(seg.String())
				}
				h.WriteByte(' ')
				seg.Reset()
			}
		case depth > 0:
			seg.WriteRune(r)
		default:
			h.WriteRune(r)
		}
	}
	if seg.Len() > 0 { // unclosed
		if len(strings.Fields(seg.String())) >= minNoteWords {
			n.WriteString(seg.String())
		} else {
			h.WriteString(seg.String())
		}
	}
	return h.String(), n.String()
}

// hasLongList reports whether a name has a parenthesised part of
// minNoteWords words or more, without allocating.
func hasLongList(name string) bool {
	depth, words, inWord := 0, 0, false
	for _, r := range name {
		switch {
		case r == '(':
			depth++
			if depth == 1 {
				words = 0
			}
			inWord = false
		case r == ')' && depth > 0:
			depth--
			inWord = false
		case depth > 0 && (r == ' ' || r == '\t' || r == '\n'):
			inWord = false
		case depth > 0 && !inWord:
			inWord = true
			if words++; words >= minNoteWords {
				return true
			}
		}
	}
	return false
}

// scanText scans one text; n is the count so far (documents are capped).
// Folding needs no NFC pass: combining marks of NFD text are dropped. A
// slash between letters separates words ("đăng ký/biển số"), as in queries.
func scanText(text string, f, n int, fn func(term []byte)) int {
	var prev, pair []byte
	one := func(w []byte) bool {
		if len(w) > 1 && w[0] == '0' && allDigits(w) {
			for len(w) > 1 && w[0] == '0' {
				w = w[1:]
			}
		}
		fn(w)
		n++
		if f != fDocuments {
			if prev != nil {
				pair = append(append(append(pair[:0], prev...), ' '), w...)
				fn(pair)
				n++
			}
			prev = append(prev[:0], w...)
		}
		return f != fDocuments || n < maxDocTerms
	}
	vntext.ScanFolded(text, func(w []byte) bool {
		for {
			i := letterSlash(w)
			if i < 0 {
				return one(w)
			}
			if !one(w[:i]) {
				return false
			}
			w = w[i+1:]
		}
	})
	return n
}

// setBit sets bit i of a bit set of n bits, made at the first bit set.
func setBit(set []uint64, i int32, n int) []uint64 {
	if set == nil {
		set = make([]uint64, (n+63)/64)
	}
	set[i/64] |= 1 << (i % 64)
	return set
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// BuildDocs indexes docs.
func BuildDocs(docs []Doc, an *Analyzer) *Index {
	ix := &Index{terms: map[string]int32{}, byCode: make(map[string]int32, len(docs)), an: an,
		typos: map[string][]string{}, vocab: map[string]int{}, hits: make([]Hit, 0, len(docs))}
	// BM25 normalises by the average field length: a first, cheap pass.
	var avg [numFields]float64
	for i := range docs {
		for f := range numFields {
			avg[f] += float64(docs[i].scanField(f, func([]byte) {}))
		}
	}
	for f := range avg {
		avg[f] = max(1, avg[f]/float64(max(1, len(docs))))
	}
	termID := func(t []byte) int32 {
		if id, ok := ix.terms[string(t)]; ok {
			return id
		}
		id := int32(len(ix.post))
		ix.terms[string(t)] = id
		ix.post = append(ix.post, nil)
		return id
	}
	impacts := map[int32]float64{}
	tf := map[int32]int{}
	var accent []byte
	for i := range docs {
		d := &docs[i]
		id := int32(len(ix.hits))
		ix.byCode[d.Code] = id
		ix.hits = append(ix.hits, Hit{Code: d.Code, Name: d.Name, Field: d.Field, Agency: d.Agency})
		head, _ := splitName(d.Name)
		if an.docFirstTime(head) {
			ix.firsts = setBit(ix.firsts, id, len(docs))
		}
		if acts := an.docActions(head); acts != 0 {
			for k := range 8 {
				if acts&(1<<k) != 0 {
					ix.changes[k] = setBit(ix.changes[k], id, len(docs))
				}
			}
			ix.changes[8] = setBit(ix.changes[8], id, len(docs))
		}
		clear(impacts)
		for f := range numFields {
			clear(tf)
			n := d.scanField(f, func(t []byte) { tf[termID(t)]++ })
			if f == fName || f == fNameNote {
				head, note := splitName(d.Name)
				text := head
				if f == fNameNote {
					text = note
				}
				for _, w := range splitWords(vntext.Words(text)) {
					accent = append(append(accent[:0], accentPrefix...), w...)
					tf[termID(accent)]++
				}
			}
			norm := k1 * (1 - b + b*float64(n)/avg[f])
			for t, c := range tf {
				x := float64(c)
				impacts[t] += fieldWeight[f] * x * (k1 + 1) / (x + norm)
			}
		}
		for t, v := range impacts {
			ix.post[t] = append(ix.post[t], posting{doc: id, impact: float32(v)})
		}
	}
	ix.none = make([]uint64, (len(ix.hits)+63)/64)
	ix.maxImpact = make([]float32, len(ix.post))
	for id, ps := range ix.post {
		for _, p := range ps {
			ix.maxImpact[id] = max(ix.maxImpact[id], p.impact)
		}
	}
	for t, id := range ix.terms {
		if !strings.Contains(t, " ") && !strings.HasPrefix(t, accentPrefix) {
			ix.vocab[t] = len(ix.post[id])
		}
	}
	for w := range ix.vocab {
		if len(w) < 4 {
			continue
		}
		for _, d := range deletions(w) {
			ix.typos[d] = append(ix.typos[d], w)
		}
	}
	n := len(ix.hits)
	ix.accs.New = func() any { return &accumulator{score: make([]float32, n), seen: make([]uint64, (n+63)/64)} }
	return ix
}

// deletions lists w with one letter removed (ASCII: folded syllables).
func deletions(w string) []string {
	out := make([]string, 0, len(w))
	for i := range len(w) {
		out = append(out, w[:i]+w[i+1:])
	}
	return out
}

// correct returns the vocabulary syllable one edit away from w (insertion,
// deletion, substitution or transposition), the most frequent one first.
func (ix *Index) correct(w string) (string, bool) {
	if len(w) < 4 || ix.vocab[w] > 0 || !isASCII(w) {
		return "", false
	}
	// Prefer a swapped or mistyped letter (same length) to a missing or an
	// extra one, then the more frequent syllable.
	seen := map[string]bool{}
	best, bestDF, bestSame := "", 0, false
	consider := func(c string) {
		if seen[c] || !editDistance1(w, c) {
			return
		}
		seen[c] = true
		same, df := len(c) == len(w), ix.vocab[c]
		if bestDF == 0 || same && !bestSame || same == bestSame && (df > bestDF || df == bestDF && c < best) {
			best, bestDF, bestSame = c, df, same
		}
	}
	if ix.vocab[w] == 0 {
		for _, c := range ix.typos[w] { // w lacks a letter
			consider(c)
		}
	}
	for _, d := range deletions(w) {
		if ix.vocab[d] > 0 { // w has an extra letter
			consider(d)
		}
		for _, c := range ix.typos[d] { // substitution or transposition
			consider(c)
		}
	}
	return best, bestDF > 0
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// editDistance1 reports whether a and b differ by one insertion, deletion,
// substitution or adjacent transposition.
func editDistance1(a, b string) bool {
	if a == b {
		return false
	}
	la, lb := len(a), len(b)
	switch {
	case la == lb:
		i := 0
		for i < la && a[i] == b[i] {
			i++
		}
		if a[i+1:] == b[i+1:] {
			return true // substitution
		}
		return i+1 < la && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:]
	case la == lb+1:
		a, b = b, a
		la, lb = lb, la
		fallthrough
	case lb == la+1:
		i := 0
		for i < la && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}

// Len is the number of indexed procedures.
func (ix *Index) Len() int { return len(ix.hits) }

// Terms is the number of distinct index terms.
func (ix *Index) Terms() int { return len(ix.post) }

// accumulator holds per-procedure scores for one query and the scratch
// space of its pruning, pooled with it.
type accumulator struct {
	score []float32  // by doc; 0 for a doc no term has reached
	seen  []uint64   // bit set by doc: the docs whose score is not 0
	cands []docScore // by doc
	heap  []docScore // selections
	docs  []int32
}

// docScore is a document and a score, for selections.
type docScore struct {
	doc   int32
	score float32
}

// Search returns up to limit hits after skipping offset, best first.
func (ix *Index) Search(query string, limit, offset int) []Hit {
	if limit <= 0 || offset < 0 || len(ix.hits) == 0 {
		return nil
	}
	q := ix.an.analyze(query, ix.correct)
	if len(q.Codes) > 0 {
		var out []Hit
		for _, c := range q.Codes {
			if id, ok := ix.byCode[c]; ok {
				h := ix.hits[id]
				h.Score = 100
				out = append(out, h)
			}
		}
		if len(out) > 0 {
			return page(out, limit, offset)
		}
	}
	acc := ix.accs.Get().(*accumulator)
	defer func() {
		for w, x := range acc.seen {
			if x == 0 {
				continue
			}
			for ; x != 0; x &= x - 1 {
				acc.score[w*64+bits.TrailingZeros64(x)] = 0
			}
			acc.seen[w] = 0
		}
		ix.accs.Put(acc)
	}()
	want := offset + limit
	sc := ix.scores(acc.score, q)
	docs := ix.accumulate(q.Terms, want, acc, sc)
	if offset >= len(docs) {
		return nil
	}
	top := topK(docs, sc, ix.hits, want)
	out := make([]Hit, 0, len(top))
	for _, d := range top {
		h := ix.hits[d]
		h.Score = math.Round(float64(sc.final(d))*1000) / 1000
		out = append(out, h)
	}
	return page(out, limit, offset)
}

// scoredTerms resolves a query's terms against the index: short lists (cheap,
// and rare terms decide most) first, then by what a term can add, at most
// maxQueryTerms of them. A long question's least informative terms are its
// most common syllables: they cost most and change little.
func (ix *Index) scoredTerms(terms []Term) []scoredTerm {
	n := float64(len(ix.hits))
	st := make([]scoredTerm, 0, len(terms))
	for _, t := range terms {
		tid, ok := ix.terms[t.Text]
		if !ok {
			continue
		}
		ps := ix.post[tid]
		w := float32(t.Weight * math.Log(1+(n-float64(len(ps))+0.5)/(float64(len(ps))+0.5)))
		st = append(st, scoredTerm{ps: ps, w: w, ub: w * ix.maxImpact[tid]})
	}
	slices.SortFunc(st, func(a, b scoredTerm) int { return cmp.Compare(b.ub, a.ub) })
	st = st[:min(len(st), maxQueryTerms)]
	short := func(t scoredTerm) bool { return len(t.ps) <= shortList }
	slices.SortStableFunc(st, func(a, b scoredTerm) int {
		switch {
		case short(a) && !short(b):
			return -1
		case short(b) && !short(a):
			return 1
		}
		return 0
	})
	return st
}

// scoredTerm is a query term resolved against the index.
type scoredTerm struct {
	ps []posting
	w  float32 // weight × idf
	ub float32 // the most this term can add to one document
}

// scores are a query's accumulated scores and what makes them final: a
// procedure that changes a paper in a way the query did not ask for
// (data/actions.txt) keeps actionPenalty of its score; when the query asks
// for a paper and names no change, one whose name does not say a first
// issuance keeps notFirstPenalty. A final score is never above the
// accumulated one, so bounds on the latter hold for the former.
type scores struct {
	s         []float32
	penalised []uint64   // bit set by doc, full length
	firsts    []uint64   // bit set by doc, full length
	keeps     [4]float32 // by penalised bit | firsts bit << 1
}

// scores returns the final scores of a query that asked for the changes
// asked: the bit set of the procedures penalised is the one of any change
// when none was asked (most queries), else the union of the others.
func (ix *Index) scores(s []float32, q Query) scores {
	sc := scores{s: s, penalised: ix.changes[8], firsts: ix.firsts}
	if q.Actions != 0 {
		var pen []uint64
		for k := range 8 {
			if q.Actions&(1<<k) != 0 || ix.changes[k] == nil {
				continue
			}
			if pen == nil {
				pen = make([]uint64, len(ix.changes[k]))
			}
			for i, w := range ix.changes[k] {
				pen[i] |= w
			}
		}
		sc.penalised = pen
	}
	if sc.penalised == nil {
		sc.penalised = ix.none
	}
	if sc.firsts == nil {
		sc.firsts = ix.none
	}
	for i := range sc.keeps {
		k := float32(1)
		if i&1 != 0 {
			k = actionPenalty
		}
		if i&2 == 0 && q.Actions == 0 && q.Paper {
			k *= notFirstPenalty
		}
		sc.keeps[i] = k
	}
	return sc
}

// final reads bit sets small enough to stay in cache (12.5 KB each for
// 100,000 procedures): the scans over candidates call it often.
func (sc scores) final(d int32) float32 { return sc.s[d] * sc.keep(d) }

// reaches reports whether d, its score s so far, can reach the final
// score theta when the terms left add at most left (with the slack).
func (sc scores) reaches(d int32, s, left, theta float32) bool {
	return (s+left)*sc.keep(d)*(1+slack) >= theta
}

// keep is the share of its score d keeps (branch-free).
func (sc scores) keep(d int32) float32 {
	w, b := d/64, d%64
	return sc.keeps[sc.penalised[w]>>b&1|sc.firsts[w]>>b&1<<1]
}

// slack is the relative error allowed for a score summed in another order
// than the terms' (at most maxQueryTerms float32 additions of positive
// numbers err by less than 1e-6 of the sum): every pruning test keeps this
// much to spare, so the order of the sums never decides what is pruned.
const slack = 1e-4

// seedDocs is how many of the best partly scored documents are scored in
// full to start the threshold.
const seedDocs = 16

// searchCost: adding a term to the candidates searches each in the term's
// list when candidates × log2(length) × searchCost is below the length, and
// walks the whole list otherwise; a search is a chain of cache misses, a
// walk reads memory in order.
const searchCost = 4

// accumulate scores the query's terms into acc and returns the documents
// that can be among the k best, each with exactly the score that adding
// every term of st in order gives (a full scan's score).
//
// All documents come from the lists scanned in full; the other terms only
// update candidates. The short lists (cheap, and the rare terms decide
// most) are scanned first; then a few of the best documents so far are
// scored in full, by binary search in the other lists: the k-th best of
// their final scores is a lower bound θ of the k-th best final score. Long
// lists are scanned, those that can add most per posting first, only until
// what the terms left could add to a document none of them reached is
// below θ: such a document cannot be in the top k. The documents reached
// whose score plus what the terms left could add can reach θ are the
// candidates, in a compact list by doc; the terms left are added to them
// alone, θ rising and the candidates falling as the terms go. A final
// score is never above the accumulated one (scores.keep ≤ 1), so these
// bounds hold for final scores. When the terms were not added in st's
// order the survivors are summed again in that order: the scores, and so
// the ties, are bit for bit a full scan's.
func (ix *Index) accumulate(terms []Term, k int, acc *accumulator, sc scores) []int32 {
	st := ix.scoredTerms(terms)
	if len(st) == 0 {
		return nil
	}
	all := uint64(1)<<len(st) - 1
	var done uint64 // bit i: st[i] was added (to every document or to the candidates)
	inOrder, last := true, -1
	added := func(i int) {
		done |= 1 << i
		inOrder = inOrder && i > last
		last = i
	}
	left := func() float32 { // the most the terms not added can add to a document
		var r float32
		for i, t := range st {
			if done&(1<<i) == 0 {
				r += t.ub
			}
		}
		return r
	}
	// The scan order: the short lists as they come, then the long ones by
	// what they can add per posting.
	var order [maxQueryTerms]int
	n := 0
	for i, t := range st {
		if len(t.ps) <= shortList {
			order[n] = i
			n++
		}
	}
	short := n
	for i, t := range st {
		if len(t.ps) > shortList {
			order[n] = i
			n++
		}
	}
	perPosting := func(i int) float64 { return float64(st[i].ub) / float64(len(st[i].ps)) }
	slices.SortStableFunc(order[short:n], func(a, b int) int { return cmp.Compare(perPosting(b), perPosting(a)) })

	var theta float32          // a lower bound of the k-th best final score
	var mass, seedMass float32 // what the lists scanned can add, now and at the last seed
	for j, i := range order[:n] {
		if theta > 0 && left()*(1+slack) < theta {
			break
		}
		t := st[i]
		for _, p := range t.ps {
			acc.score[p.doc] += t.w * p.impact
			acc.seen[uint32(p.doc)/64] |= 1 << (uint32(p.doc) % 64)
		}
		added(i)
		mass += t.ub
		// Seed once the short lists are in, and again when the lists
		// scanned since can add more than those scanned before.
		if j+1 < n && j+1 >= short && mass > 2*seedMass && left()*(1+slack) >= theta {
			if th, ok := ix.seed(st, done, k, acc, sc); ok {
				theta, seedMass = max(theta, th), mass
			}
		}
	}
	r := left()
	if done == all { // every score is complete: the k-th best is θ
		top := acc.heap[:0]
		for w, x := range acc.seen {
			for ; x != 0; x &= x - 1 {
				d := int32(w*64 + bits.TrailingZeros64(x))
				if s := acc.score[d]; len(top) < k || s > top[0].score { // a final score is at most the score
					top = pushTop(top, k, docScore{d, sc.final(d)})
				}
			}
		}
		if acc.heap = top; len(top) == k {
			theta = max(theta, top[0].score*(1-slack))
		}
	}
	cands := acc.cands[:0]
	cut := theta*(1-2*slack) - r // below, a score cannot reach θ (keep ≤ 1)
	for w, x := range acc.seen {
		for ; x != 0; x &= x - 1 {
			d := int32(w*64 + bits.TrailingZeros64(x))
			if s := acc.score[d]; s >= cut && sc.reaches(d, s, r, theta) {
				cands = append(cands, docScore{d, s})
			}
		}
	}
	for i, t := range st {
		if done&(1<<i) != 0 {
			continue
		}
		addTerm(t, cands)
		added(i)
		if len(cands) <= k {
			continue
		}
		r = left()
		theta = max(theta, kthFinal(cands, sc, k, acc)*(1-slack))
		cut := theta*(1-2*slack) - r // below, a score cannot reach θ (keep ≤ 1)
		kept := cands[:0]
		for _, c := range cands {
			if c.score >= cut && sc.reaches(c.doc, c.score, r, theta) {
				kept = append(kept, c)
			}
		}
		cands = kept
	}
	acc.cands = cands
	docs := acc.docs[:0]
	if inOrder { // the scores are a full scan's
		for _, c := range cands {
			acc.score[c.doc] = c.score
			docs = append(docs, c.doc)
		}
	} else { // the survivors, summed again in st's order
		if len(cands) > k {
			theta = max(theta, kthFinal(cands, sc, k, acc)*(1-slack))
		}
		for _, c := range cands {
			if sc.reaches(c.doc, c.score, 0, theta) {
				acc.score[c.doc] = exactScore(st, c.doc)
				docs = append(docs, c.doc)
			}
		}
	}
	acc.docs = docs
	return docs
}

// seed returns the k-th best final score of the seedDocs documents (at
// least k) with the best final scores so far, scored in full (less the
// slack: the terms are not added in order), and whether there were k.
func (ix *Index) seed(st []scoredTerm, done uint64, k int, acc *accumulator, sc scores) (float32, bool) {
	m := max(k, seedDocs)
	top := acc.heap[:0]
	for w, x := range acc.seen {
		for ; x != 0; x &= x - 1 {
			d := int32(w*64 + bits.TrailingZeros64(x))
			if s := acc.score[d]; len(top) < m || s > top[0].score {
				top = pushTop(top, m, docScore{d, sc.final(d)})
			}
		}
	}
	acc.heap = top
	if len(top) < k {
		return 0, false
	}
	for i := range top {
		top[i].score = acc.score[top[i].doc]
	}
	slices.SortFunc(top, func(a, b docScore) int { return cmp.Compare(a.doc, b.doc) })
	for i, t := range st {
		if done&(1<<i) == 0 {
			addTerm(t, top)
		}
	}
	for i := range top {
		top[i].score *= sc.keep(top[i].doc)
	}
	slices.SortFunc(top, func(a, b docScore) int { return cmp.Compare(b.score, a.score) })
	return top[k-1].score * (1 - slack), true
}

// exactScore is d's score with every term of st added in order, as a full
// scan adds them.
func exactScore(st []scoredTerm, d int32) float32 {
	var s float32
	for _, t := range st {
		if j, ok := t.find(0, d); ok {
			s += t.w * t.ps[j].impact
		}
	}
	return s
}

// find returns the position of d in t's list at or after from, or where
// it would be.
func (t *scoredTerm) find(from int, d int32) (int, bool) {
	ps := t.ps
	lo, hi := from, len(ps)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ps[m].doc < d {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(ps) && ps[lo].doc == d
}

// addTerm adds a term's impacts to docs (sorted by doc).
func addTerm(t scoredTerm, docs []docScore) {
	ps := t.ps
	if len(docs)*bits.Len(uint(len(ps)))*searchCost < len(ps) {
		lo := 0 // few docs: search each
		for i := range docs {
			j, found := t.find(lo, docs[i].doc)
			lo = j
			if found {
				docs[i].score += t.w * ps[lo].impact
			}
		}
		return
	}
	j := 0 // many: walk both lists
	for i := range docs {
		d := docs[i].doc
		for j < len(ps) && ps[j].doc < d {
			j++
		}
		if j == len(ps) {
			return
		}
		if ps[j].doc == d {
			docs[i].score += t.w * ps[j].impact
		}
	}
}

// pushTop keeps in h, a min-heap on score, the m best entries pushed.
func pushTop(h []docScore, m int, e docScore) []docScore {
	if len(h) < m {
		h = append(h, e)
		for i := len(h) - 1; i > 0; { // up
			p := (i - 1) / 2
			if h[p].score <= h[i].score {
				break
			}
			h[p], h[i] = h[i], h[p]
			i = p
		}
		return h
	}
	if e.score <= h[0].score {
		return h
	}
	h[0] = e
	for i := 0; ; { // down
		l, s := 2*i+1, i
		if l < len(h) && h[l].score < h[s].score {
			s = l
		}
		if r := l + 1; r < len(h) && h[r].score < h[s].score {
			s = r
		}
		if s == i {
			return h
		}
		h[s], h[i] = h[i], h[s]
		i = s
	}
}

// kthFinal returns the k-th best final score of the candidates (at least k).
func kthFinal(cands []docScore, sc scores, k int, acc *accumulator) float32 {
	h := acc.heap[:0]
	for _, c := range cands {
		if len(h) < k || c.score > h[0].score { // a final score is at most the score
			h = pushTop(h, k, docScore{c.doc, c.score * sc.keep(c.doc)})
		}
	}
	acc.heap = h
	return h[0].score
}

// topK returns the k best documents, by final score then code.
func topK(docs []int32, sc scores, hits []Hit, k int) []int32 {
	better := func(a, b int32) int {
		if c := cmp.Compare(sc.final(b), sc.final(a)); c != 0 {
			return c
		}
		return strings.Compare(hits[a].Code, hits[b].Code)
	}
	if len(docs) <= k {
		out := slices.Clone(docs)
		slices.SortFunc(out, better)
		return out
	}
	// Keep the k best in a sorted slice; most candidates fail the first test
	// against the k-th score.
	top := make([]int32, 0, k+1)
	var kth float32
	for _, d := range docs {
		if len(top) == k {
			if f := sc.final(d); f < kth || f == kth && better(d, top[k-1]) >= 0 {
				continue
			}
		}
		i, _ := slices.BinarySearchFunc(top, d, better)
		top = slices.Insert(top, i, d)
		if len(top) > k {
			top = top[:k]
		}
		kth = sc.final(top[len(top)-1])
	}
	return top
}

func page(h []Hit, limit, offset int) []Hit {
	if offset >= len(h) {
		return nil
	}
	return h[offset:min(len(h), offset+limit)]
}

// Procedure returns the indexed hit for a code.
func (ix *Index) Procedure(code string) (Hit, bool) {
	id, ok := ix.byCode[code]
	if !ok {
		return Hit{}, false
	}
	return ix.hits[id], true
}

// Holder serves searches from the current index and swaps in a new one
// atomically: queries never wait for a rebuild.
type Holder struct {
	cur   atomic.Pointer[Index]
	hooks atomic.Pointer[queryHooks]
}

// queryHooks let operators tune search at runtime: rewrite applies their
// synonyms and stop-words to every query, observe sees each first page of
// results (to count misses).
type queryHooks struct {
	rewrite func(string) string
	observe func(query string, hits []Hit)
}

// SetQueryHooks installs the operators' rewrite and observer; either may
// be nil. Safe while searches run.
func (h *Holder) SetQueryHooks(rewrite func(string) string, observe func(query string, hits []Hit)) {
	h.hooks.Store(&queryHooks{rewrite: rewrite, observe: observe})
}

// NewHolder starts with ix.
func NewHolder(ix *Index) *Holder {
	h := &Holder{}
	h.cur.Store(ix)
	return h
}

// Swap replaces the index.
func (h *Holder) Swap(ix *Index) { h.cur.Store(ix) }

// Index returns the current index.
func (h *Holder) Index() *Index { return h.cur.Load() }

// Search searches the current index.
func (h *Holder) Search(query string, limit, offset int) []Hit {
	hk := h.hooks.Load()
	if hk == nil {
		return h.cur.Load().Search(query, limit, offset)
	}
	q := query
	if hk.rewrite != nil {
		q = hk.rewrite(query)
	}
	hits := h.cur.Load().Search(q, limit, offset)
	if hk.observe != nil && offset == 0 {
		hk.observe(query, hits)
	}
	return hits
}
