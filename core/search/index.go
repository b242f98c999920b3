// Package search is the in-process procedure search: an inverted index over
// folded Vietnamese syllables and syllable pairs (phrases), ranked by a
// field-weighted BM25 score.
package search

import (
	"math"
	"sort"
	"strings"
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

// field indexes, in weight order.
const (
	fName = iota
	fField
	fAgency
	fResult
	fDocuments
	numFields
)

// fieldWeight is how much a match in each field counts.
var fieldWeight = [numFields]float64{fName: 4, fField: 1.2, fAgency: 0.8, fResult: 1, fDocuments: 0.35}

const (
	k1          = 1.2
	b           = 0.75
	phraseBoost = 1.5 // a syllable pair counts this much more than its syllables
)

type posting struct {
	doc int32
	tf  [numFields]uint16
}

type doc struct {
	hit  Hit
	lens [numFields]uint16
	name string // NFC lower-case name, for the exact-diacritics bonus
}

// Index is an immutable search index; build a new one to change it.
type Index struct {
	docs     []doc
	postings map[string][]posting
	avgLen   [numFields]float64
	byCode   map[string]int32
	an       *Analyzer
}

// Build indexes the published procedures among procs.
func Build(procs []catalog.Procedure, an *Analyzer) *Index {
	ix := &Index{postings: map[string][]posting{}, byCode: map[string]int32{}, an: an}
	var total [numFields]float64
	for _, p := range procs {
		if p.Status == catalog.Cancelled {
			continue
		}
		id := int32(len(ix.docs))
		d := doc{hit: Hit{Code: p.Code, Name: p.Name, Field: p.Field, Agency: p.Agency}, name: strings.ToLower(vntext.NFC(p.Name))}
		docs := make([]string, len(p.Documents))
		for i, dd := range p.Documents {
			docs[i] = dd.Name
		}
		texts := [numFields]string{fName: p.Name, fField: p.Field, fAgency: p.Agency, fResult: p.Result, fDocuments: strings.Join(docs, " \n ")}
		tfs := map[string]*[numFields]uint16{}
		for f, text := range texts {
			terms := an.indexTerms(text)
			d.lens[f] = uint16(min(len(terms), math.MaxUint16))
			total[f] += float64(d.lens[f])
			for _, t := range terms {
				tf := tfs[t]
				if tf == nil {
					tf = new([numFields]uint16)
					tfs[t] = tf
				}
				if tf[f] < math.MaxUint16 {
					tf[f]++
				}
			}
		}
		for t, tf := range tfs {
			ix.postings[t] = append(ix.postings[t], posting{doc: id, tf: *tf})
		}
		ix.byCode[p.Code] = id
		ix.docs = append(ix.docs, d)
	}
	for f := range total {
		if len(ix.docs) > 0 {
			ix.avgLen[f] = max(1, total[f]/float64(len(ix.docs)))
		}
	}
	return ix
}

// Len is the number of indexed procedures.
func (ix *Index) Len() int { return len(ix.docs) }

// Search returns up to limit hits after skipping offset, best first.
func (ix *Index) Search(query string, limit, offset int) []Hit {
	if limit <= 0 || len(ix.docs) == 0 {
		return nil
	}
	q := ix.an.Query(query)
	if len(q.Codes) > 0 {
		var out []Hit
		for _, c := range q.Codes {
			if id, ok := ix.byCode[c]; ok {
				h := ix.docs[id].hit
				h.Score = 100
				out = append(out, h)
			}
		}
		if len(out) > 0 {
			return page(out, limit, offset)
		}
	}
	scores := make(map[int32]float64, 64)
	n := float64(len(ix.docs))
	for _, t := range q.Terms {
		ps := ix.postings[t.Text]
		if len(ps) == 0 {
			continue
		}
		idf := math.Log(1 + (n-float64(len(ps))+0.5)/(float64(len(ps))+0.5))
		for _, p := range ps {
			d := &ix.docs[p.doc]
			var s float64
			for f := range numFields {
				if p.tf[f] == 0 {
					continue
				}
				tf := float64(p.tf[f])
				norm := k1 * (1 - b + b*float64(d.lens[f])/ix.avgLen[f])
				s += fieldWeight[f] * tf * (k1 + 1) / (tf + norm)
			}
			scores[p.doc] += t.Weight * idf * s
		}
	}
	if len(scores) == 0 {
		return nil
	}
	hits := make([]Hit, 0, len(scores))
	for id, s := range scores {
		d := &ix.docs[id]
		for _, w := range q.Accented {
			if strings.Contains(d.name, w) {
				s *= 1.05 // typed with diacritics and they match exactly
			}
		}
		h := d.hit
		h.Score = math.Round(s*1000) / 1000
		hits = append(hits, h)
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		return hits[i].Code < hits[j].Code
	})
	return page(hits, limit, offset)
}

func page(h []Hit, limit, offset int) []Hit {
	if offset >= len(h) {
		return nil
	}
	return h[offset:min(len(h), offset+limit)]
}

// Holder serves searches from the current index and swaps in a new one
// atomically: queries never wait for a rebuild.
type Holder struct {
	cur atomic.Pointer[Index]
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
	return h.cur.Load().Search(query, limit, offset)
}
