// Package lookuptest helps tests of the look-up links.
package lookuptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DecodeQR reads a PNG QR code back with zbarimg (Debian's zbar-tools;
// scripts/install-test-tools installs it). A missing zbarimg fails the
// test: it is never skipped.
func DecodeQR(t testing.TB, png []byte) string {
	t.Helper()
	bin, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatalf("zbarimg is required to read QR codes back: run scripts/install-test-tools (%v)", err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--quiet", "--raw", file).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v (%s)", err, out)
	}
	return strings.TrimRight(string(out), "\n")
}
