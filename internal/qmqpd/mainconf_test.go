package qmqpd

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/qmqpd-go/qmqpd/internal/maincf"
)

// The daemon reuses client name lookups for DefaultNameCacheTTL; a Config
// built by hand (tests, embedders) looks up every time unless told.
func TestConfigFromMainCFNameCache(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.cf"), []byte("myhostname = host.example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mc, err := maincf.Load(maincf.Options{ConfigDir: dir, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromMainCF(mc, false, Reporter{Warn: func(w string) { t.Log(w) }, Error: func(e string) { t.Log(e) }})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NameCacheTTL != DefaultNameCacheTTL {
		t.Errorf("NameCacheTTL = %v, want %v", cfg.NameCacheTTL, DefaultNameCacheTTL)
	}
}
