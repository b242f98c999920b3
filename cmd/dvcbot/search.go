package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/dvcbot/dvcbot/core/search"
)

// newSearchCommand searches the catalogue from the terminal, or evaluates
// the engine on a set of queries with known answers.
func newSearchCommand() command {
	var asJSON *bool
	var limit *int
	var eval *string
	return command{
		name: "search", args: "[--json] [--limit N] QUERY | --eval FILE",
		summary: "search the catalogue (as the bot and GET /api/v1/procedures do), or print Recall@1/@3 and MRR for an evaluation set",
		flags: func(fs *flag.FlagSet) {
			asJSON = fs.Bool("json", false, "print JSON")
			limit = fs.Int("limit", 10, "number of results (1-100)")
			eval = fs.String("eval", "", "evaluation set (JSON lines {query, expected}) to score instead of searching")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if *eval == "" && len(args) == 0 {
				return usageError("usage: dvcbot search [--json] [--limit N] QUERY")
			}
			if *limit < 1 || *limit > 100 {
				return usageError("--limit must be from 1 to 100")
			}
			log := newLogger(e.stderr, cfg.LogLevel)
			db, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer db.Close()
			holder, err := buildSearch(ctx, db)
			if err != nil {
				return err
			}
			ix := holder.Index()
			if *eval != "" {
				cases, err := search.ReadEval(*eval)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%d procedures indexed, %d queries\n\n", ix.Len(), len(cases))
				fmt.Fprintln(e.stdout, "| engine | variant | n | Recall@1 | Recall@3 | MRR |\n|---|---|---|---|---|---|")
				for _, v := range search.Variants() {
					m, _ := search.Evaluate(cases, v.Transform, ix.Codes)
					search.PrintMetrics(e.stdout, "dvcbot (in-process)", v.Name, m)
				}
				return nil
			}
			hits := ix.Search(strings.Join(args, " "), *limit, 0)
			if *asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if hits == nil {
					hits = []search.Hit{}
				}
				return enc.Encode(map[string]any{"query": strings.Join(args, " "), "results": hits})
			}
			if len(hits) == 0 {
				fmt.Fprintln(e.stdout, "no procedure found")
			}
			for i, h := range hits {
				fmt.Fprintf(e.stdout, "%2d. %s  %s  [%s; %s]  %.3f\n", i+1, h.Code, h.Name, h.Field, h.Agency, h.Score)
			}
			return nil
		},
	}
}
