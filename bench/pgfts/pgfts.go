// Package pgfts is the search baseline dvcbot's engine is measured against:
// Postgres full-text search over the same catalogue with unaccent, the
// 'simple' configuration and ts_rank, and a pg_trgm similarity fallback when
// full-text search finds nothing.
package pgfts

import (
	"context"
	"fmt"
	"strings"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Baseline searches a table of its own in the given database.
type Baseline struct {
	db *bun.DB
}

// Load creates the extensions (in schema public), the table and its indexes,
// and loads the published procedures.
func Load(ctx context.Context, db *bun.DB, procs []catalog.Procedure) (*Baseline, error) {
	for _, ext := range []string{"unaccent", "pg_trgm"} {
		if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS "+ext+" WITH SCHEMA public"); err != nil {
			// Two test packages may race to create it; the loser sees it exists.
			if _, err2 := db.ExecContext(ctx, "SELECT 1 FROM pg_extension WHERE extname = ?", ext); err2 != nil {
				return nil, fmt.Errorf("creating extension %s: %w", ext, err)
			}
		}
	}
	stmts := []string{
		`CREATE TABLE fts_procedures (code TEXT PRIMARY KEY, name TEXT NOT NULL, name_folded TEXT NOT NULL, tsv tsvector NOT NULL)`,
		`CREATE INDEX fts_procedures_tsv ON fts_procedures USING gin (tsv)`,
		`CREATE INDEX fts_procedures_trgm ON fts_procedures USING gin (name_folded public.gin_trgm_ops)`,
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	for _, p := range procs {
		if p.Status == catalog.Cancelled {
			continue
		}
		docs := make([]string, len(p.Documents))
		for i, d := range p.Documents {
			docs[i] = d.Name
		}
		_, err := db.ExecContext(ctx, `INSERT INTO fts_procedures (code, name, name_folded, tsv) VALUES (?, ?, lower(public.unaccent(?)),
			setweight(to_tsvector('simple', public.unaccent(?)), 'A') ||
			setweight(to_tsvector('simple', public.unaccent(?)), 'B') ||
			setweight(to_tsvector('simple', public.unaccent(?)), 'C') ||
			setweight(to_tsvector('simple', public.unaccent(?)), 'D'))`,
			p.Code, p.Name, p.Name, p.Name, p.Field, p.Agency+" "+p.Result, strings.Join(docs, " "))
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", p.Code, err)
		}
	}
	return &Baseline{db: db}, nil
}

// Search returns up to limit procedure codes, best first.
func (b *Baseline) Search(ctx context.Context, q string, limit int) ([]string, error) {
	words := vntext.Words(q)
	var codes []string
	if len(words) > 0 {
		// OR of the words: an AND query finds nothing for most questions.
		err := b.db.NewRaw(`SELECT code FROM fts_procedures, to_tsquery('simple', public.unaccent(?)) query
			WHERE tsv @@ query ORDER BY ts_rank(tsv, query) DESC, code LIMIT ?`, strings.Join(words, " | "), limit).Scan(ctx, &codes)
		if err != nil {
			return nil, fmt.Errorf("full-text search: %w", err)
		}
	}
	if len(codes) > 0 {
		return codes, nil
	}
	err := b.db.NewRaw(`SELECT code FROM fts_procedures WHERE name_folded OPERATOR(public.%) lower(public.unaccent(?))
		ORDER BY public.similarity(name_folded, lower(public.unaccent(?))) DESC, code LIMIT ?`, q, q, limit).Scan(ctx, &codes)
	if err != nil {
		return nil, fmt.Errorf("trigram search: %w", err)
	}
	return codes, nil
}
