package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseInts(t *testing.T) {
	got, err := parseInts("2KB, 100KB,5MB,32")
	if err != nil || len(got) != 4 || got[0] != 2000 || got[1] != 100000 || got[2] != 5000000 || got[3] != 32 {
		t.Errorf("parseInts = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "0", "-1", "2GB"} {
		if _, err := parseInts(bad); err == nil {
			t.Errorf("parseInts(%q) accepted", bad)
		}
	}
}

func TestStats(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	if p := percentile(d, 50); p != 50*time.Millisecond {
		t.Errorf("p50 = %v", p)
	}
	if p := percentile(d, 99); p != 99*time.Millisecond {
		t.Errorf("p99 = %v", p)
	}
	if p := percentile(nil, 99); p != 0 {
		t.Errorf("p99 of nothing = %v", p)
	}
}

func TestMessageSize(t *testing.T) {
	for _, n := range []int{100, 101, 2000, 100000} {
		m := message(n)
		if len(m) != n || m[len(m)-1] != '\n' {
			t.Errorf("message(%d): %d bytes, last %q", n, len(m), m[len(m)-1])
		}
	}
}

func TestReport(t *testing.T) {
	cells := []*cellResult{{sessions: 32, size: 2000, ceiling: 1000, srv: map[string]*srvResult{
		"ours":    {rates: []float64{600, 700}, cpu: []float64{0.5}, lat: []time.Duration{time.Millisecond}},
		"postfix": {rates: []float64{100}, cpu: []float64{2}, cpuAll: []float64{3}, lat: []time.Duration{2 * time.Millisecond}},
	}}}
	table := renderTable(cells, &memResult{clients: 500, size: 10000000, peakKB: 20 * 1024}, envInfo{}, options{reps: 2, seconds: 1})
	for _, want := range []string{"| 32 | 2 KB | 1000 | 650 | 100 | 6.50× | 0.65× |", "MET: 32 sessions, 2 KB: ours 650 msg/s ≥ 5 × Postfix 100", "MET: 500 clients × 10 MB: peak RSS 20.0 MiB < 256 MiB"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "b.md")
	if err := os.WriteFile(out, []byte("# T\n\nintro\n\n"+beginMarker+"\nold\n"+endMarker+"\n\ntail\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(out, filepath.Join(dir, "b.svg"), table, cells); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if s := string(b); strings.Contains(s, "old") || !strings.Contains(s, "intro") || !strings.Contains(s, "tail") || !strings.Contains(s, "](b.svg)") {
		t.Errorf("report:\n%s", s)
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "b.svg"))
	if !strings.HasPrefix(string(svg), "<svg") || !strings.Contains(string(svg), "650 msg/s") {
		t.Errorf("svg: %.200s", svg)
	}
}

func TestClearIncoming(t *testing.T) {
	for _, withAside := range []bool{true, false} {
		q := t.TempDir()
		in := filepath.Join(q, "incoming")
		if err := os.Mkdir(in, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(in, 0o710); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"A1", "B2", "C3"} {
			if err := os.WriteFile(filepath.Join(in, name), []byte("x"), 0o700); err != nil {
				t.Fatal(err)
			}
		}
		var aside *setAside
		if withAside {
			aside = &setAside{dir: filepath.Join(q, "aside")}
		}
		for run := 0; run < 2; run++ {
			if err := clearIncoming(q, aside); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(in)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o710 {
				t.Errorf("aside=%v: incoming mode %v after clearing, want 0710", withAside, fi.Mode().Perm())
			}
			if n := countIncoming(q); n != 0 {
				t.Errorf("aside=%v: %d files left in incoming", withAside, n)
			}
		}
		if withAside {
			// The first run's files were set aside, not deleted.
			if _, err := os.Stat(filepath.Join(q, "aside", "1", "B2")); err != nil {
				t.Errorf("set-aside file: %v", err)
			}
		}
	}
}
