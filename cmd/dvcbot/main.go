// Command dvcbot is the one binary of the project: the service (serve) and
// its operator tools (migrate, import, version, help).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2 // bad configuration or usage
)

// env is what a command needs from its surroundings; tests pass their own.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name, args, summary string
	run                 func(ctx context.Context, e env, cfg Config, args []string) error
	// flags adds the command's own flags beside the configuration flags.
	flags func(fs *flag.FlagSet)
}

func commands() []command {
	return []command{
		{name: "serve", args: "", summary: "run the service: HTTP API, channels, web chat on DVCBOT_LISTEN", run: cmdServe},
		{name: "migrate", args: "", summary: "apply pending database migrations and exit", run: cmdMigrate},
		newChatCommand(),
		newSearchCommand(),
		newSyncCommand(),
		newAlertsCommand(),
		newOfficerCommand(),
		newConsoleCommand(),
		newAPIKeyCommand(),
		newRetentionCommand(),
		newNoticesCommand(),
		newLinkCommand(),
		newDemoCommand(),
		{name: "zalo", args: "set-token REFRESH_TOKEN", summary: "store the Zalo OA refresh token an OA admin minted", run: cmdZalo},
		{name: "import", args: "procedures FILE.jsonl", summary: "load procedures from a JSONL file (idempotent; changes become new versions)", run: cmdImport},
		{name: "version", args: "", summary: "print the version", run: cmdVersion},
		{name: "health", args: "", summary: "exit 0 if the local service answers /healthz (container HEALTHCHECK)", run: cmdHealth},
		{name: "help", args: "[config]", summary: "show this help, or the configuration table", run: nil},
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitConfig
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "--help" {
		if len(rest) > 0 && rest[0] == "config" {
			configTable(stdout)
			return exitOK
		}
		usage(stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != name || c.run == nil {
			continue
		}
		fs := flag.NewFlagSet("dvcbot "+name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		if c.flags != nil {
			c.flags(fs)
		}
		cfg, cmdArgs, err := LoadConfig(fs, rest, getenv)
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		if err != nil {
			fmt.Fprintf(stderr, "dvcbot: configuration error: %v\n", err)
			return exitConfig
		}
		if err := c.run(ctx, e, cfg, cmdArgs); err != nil {
			var ue usageError
			if errors.As(err, &ue) {
				fmt.Fprintf(stderr, "dvcbot %s: %v\n", name, err)
				return exitConfig
			}
			fmt.Fprintf(stderr, "dvcbot %s: %v\n", name, err)
			return exitFail
		}
		return exitOK
	}
	fmt.Fprintf(stderr, "dvcbot: unknown command %q\n\n", name)
	usage(stderr)
	return exitConfig
}

// usageError marks wrong arguments (exit code 2).
type usageError string

func (u usageError) Error() string { return string(u) }

func usage(w io.Writer) {
	fmt.Fprintln(w, "dvcbot: Vietnam's public administrative services by SMS, Zalo, Telegram and web chat.")
	fmt.Fprintln(w, "\nUsage: dvcbot COMMAND [flags] [args]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nEvery flag has a DVCBOT_* environment variable; see `dvcbot help config`.")
}

func configTable(w io.Writer) {
	fmt.Fprintln(w, "| variable | flag | default | meaning |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, s := range settings(&Config{}) {
		d := "`" + s.Default + "`"
		if s.Default == "" {
			d = "(empty)"
		}
		fmt.Fprintf(w, "| `%s` | `--%s` | %s | %s |\n", s.Env, s.Flag, d, s.Usage)
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func cmdVersion(_ context.Context, e env, _ Config, _ []string) error {
	fmt.Fprintf(e.stdout, "dvcbot %s\n", buildVersion())
	return nil
}

func cmdHealth(ctx context.Context, _ env, cfg Config, _ []string) error {
	_, port, _ := net.SplitHostPort(cfg.Listen)
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+port+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/healthz answered %d", resp.StatusCode)
	}
	return nil
}

func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}
