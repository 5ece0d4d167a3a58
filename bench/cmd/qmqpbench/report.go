package main

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

// envInfo describes the machine a run was made on.
type envInfo struct {
	date     time.Time
	kernel   string
	cpus     int
	fsType   string
	loadBeg  string
	loadEnd  string
	duration time.Duration
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func describeEnv(dir string) envInfo {
	e := envInfo{date: time.Now().UTC(), cpus: runtime.NumCPU(), loadBeg: loadAvg()}
	var u syscall.Utsname
	if syscall.Uname(&u) == nil {
		var b []byte
		for _, c := range u.Release {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		e.kernel = string(b)
	}
	// The file system type from /proc/mounts: the longest mount point
	// that contains dir.
	if m, err := os.ReadFile("/proc/mounts"); err == nil {
		best := ""
		for _, line := range strings.Split(string(m), "\n") {
			f := strings.Fields(line)
			if len(f) >= 4 && (dir == f[1] || strings.HasPrefix(dir, strings.TrimSuffix(f[1], "/")+"/")) && len(f[1]) >= len(best) {
				best = f[1]
				e.fsType = f[2] + " (" + f[0] + ", " + f[3] + ")"
			}
		}
	}
	return e
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func mib(kb int64) string { return fmt.Sprintf("%.1f", float64(kb)/1024) }

// renderTable renders the results, the target checks and the notes as
// Markdown.
func renderTable(cells []*cellResult, mem *memResult, env envInfo, o options) string {
	var b strings.Builder
	mode := "full"
	if o.quick {
		mode = "quick"
	}
	fmt.Fprintf(&b, "Run of %s UTC, %s mode, %d A/B repetitions per cell, ~%.1f s per run; Linux %s, %d CPUs, queue file system %s; load average %s at the start, %s at the end; %s in all.\n\n",
		env.date.Format("2006-01-02 15:04"), mode, o.reps, o.seconds, env.kernel, env.cpus, env.fsType, env.loadBeg, env.loadEnd, env.duration.Round(time.Second))
	b.WriteString("| sessions | size | fsync ceiling msg/s | ours msg/s | Postfix msg/s | ours/Postfix | ours/ceiling | ours p50 / p99 | Postfix p50 / p99 | ours peak RSS MiB | Postfix peak RSS MiB | ours CPU s/1000 | Postfix CPU s/1000 | Postfix CPU s/1000 incl. helpers |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		us, pf := c.srv["ours"], c.srv["postfix"]
		ur, pr := median(us.rates), median(pf.rates)
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.0f | %.0f | %s | %s | %s / %s | %s / %s | %s | %s | %.3f | %.3f | %.3f |\n",
			c.sessions, sizeName(c.size), c.ceiling, ur, pr, ratio(ur, pr), ratio(ur, c.ceiling),
			ms(percentile(us.lat, 50)), ms(percentile(us.lat, 99)), ms(percentile(pf.lat, 50)), ms(percentile(pf.lat, 99)),
			mib(us.rssKB), mib(pf.rssKB), median(us.cpu), median(pf.cpu), median(pf.cpuAll))
	}
	b.WriteString("\nmsg/s: median over the qmqp-source runs; latency: every message of the Go-client runs (connect to reply); CPU: user+system of our daemon, or of Postfix's qmqpd and cleanup processes together, as issue #5 defines it (the last column adds trivial-rewrite, postlogd and master, which do work our daemon does in-process: address rewriting, writing the log); peak RSS: our daemon, or the sum over Postfix's qmqpd and cleanup processes.\n")
	if mem != nil {
		fmt.Fprintf(&b, "\nMemory test: %d concurrent clients each sending one %s message to our server: peak RSS **%s MiB**, %d errors, %s.", mem.clients, sizeName(mem.size), mib(mem.peakKB), mem.errors, mem.elapsed.Round(time.Millisecond))
		if mem.aborted {
			fmt.Fprintf(&b, " ABORTED: the server grew past %d MiB.", o.memLimitMB)
		}
		if mem.errText != "" {
			fmt.Fprintf(&b, " First error: %s", strings.TrimSpace(mem.errText))
		}
		b.WriteString("\n")
	}
	// Target checks.
	b.WriteString("\nTargets of issue #5 in this run:\n\n")
	check := func(ok bool, format string, args ...any) {
		state := "NOT MET"
		if ok {
			state = "MET"
		}
		fmt.Fprintf(&b, "- %s: %s\n", state, fmt.Sprintf(format, args...))
	}
	for _, c := range cells {
		us, pf := c.srv["ours"], c.srv["postfix"]
		ur, pr := median(us.rates), median(pf.rates)
		if c.sessions == 32 && c.size == 2000 {
			check(ur >= 5*pr, "32 sessions, 2 KB: ours %.0f msg/s ≥ 5 × Postfix %.0f (%s)", ur, pr, ratio(ur, pr))
			check(ur >= c.ceiling/2, "32 sessions, 2 KB: ours %.0f msg/s ≥ half the fsync ceiling %.0f (%s)", ur, c.ceiling, ratio(ur, c.ceiling))
		}
		if c.sessions == 1 {
			check(ur >= pr, "1 session, %s: ours %.0f msg/s no slower than Postfix %.0f", sizeName(c.size), ur, pr)
		}
		if c.sessions == 32 {
			u99, p99 := percentile(us.lat, 99), percentile(pf.lat, 99)
			check(u99 <= p99, "32 sessions, %s: ours p99 %s ≤ Postfix p99 %s", sizeName(c.size), ms(u99), ms(p99))
		}
	}
	worst := math.Inf(-1)
	var worstCell *cellResult
	for _, c := range cells {
		r := median(c.srv["ours"].cpu) / median(c.srv["postfix"].cpu)
		if r > worst {
			worst, worstCell = r, c
		}
	}
	if worstCell != nil {
		check(worst < 1, "CPU s/1000 msgs below Postfix's in every cell (highest ours/Postfix: %.2f at %d sessions, %s)", worst, worstCell.sessions, sizeName(worstCell.size))
	}
	if mem != nil {
		check(!mem.aborted && mem.errors == 0 && mem.peakKB < 256*1024, "%d clients × %s: peak RSS %s MiB < 256 MiB", mem.clients, sizeName(mem.size), mib(mem.peakKB))
	}
	var errs []string
	for _, c := range cells {
		names := make([]string, 0, len(c.srv))
		for name := range c.srv {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			for _, e := range c.srv[name].errors {
				errs = append(errs, fmt.Sprintf("%d sessions %s %s: %s", c.sessions, sizeName(c.size), name, e))
			}
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nProblems seen during the run:\n\n")
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	return b.String()
}

const (
	beginMarker = "<!-- results:begin (written by bench/run.sh) -->"
	endMarker   = "<!-- results:end -->"
)

// writeReport puts the table between the markers of the Markdown file
// (appending them when missing) and writes the chart.
func writeReport(out, svgPath string, table string, cells []*cellResult) error {
	if err := os.WriteFile(svgPath, chart(cells), 0o644); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(out), svgPath)
	if err != nil {
		rel = svgPath
	}
	block := beginMarker + "\n\n" + table + "\n![msg/s per cell: ours, Postfix, fsync ceiling](" + rel + ")\n\n" + endMarker
	old, err := os.ReadFile(out)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	i, j := strings.Index(text, beginMarker), strings.Index(text, endMarker)
	if i >= 0 && j > i {
		text = text[:i] + block + text[j+len(endMarker):]
	} else {
		if text == "" {
			text = "# Benchmarks\n"
		}
		text = strings.TrimRight(text, "\n") + "\n\n## Results\n\n" + block + "\n"
	}
	return os.WriteFile(out, []byte(text), 0o644)
}

// chart draws msg/s per cell on a log scale: ours, Postfix and the fsync
// ceiling as grouped bars.
func chart(cells []*cellResult) []byte {
	const (
		w, h            = 960, 420
		left, right     = 70, 20
		top, bottom     = 40, 80
		barW, groupPadW = 14, 14
	)
	maxV := 10.0
	for _, c := range cells {
		for _, v := range []float64{c.ceiling, median(c.srv["ours"].rates), median(c.srv["postfix"].rates)} {
			maxV = max(maxV, v)
		}
	}
	top10 := math.Pow(10, math.Ceil(math.Log10(maxV)))
	minV := 1.0
	y := func(v float64) float64 {
		v = max(v, minV)
		return float64(top) + float64(h-top-bottom)*(1-math.Log10(v/minV)/math.Log10(top10/minV))
	}
	groupW := 3*barW + groupPadW
	plotW := max(len(cells)*groupW, 1)
	width := max(w, left+right+plotW)
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="14">Messages per second (log scale): ours, Postfix 3.7.11, raw fsync ceiling</text>`+"\n", left)
	for v := minV; v <= top10; v *= 10 {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%g</text>`+"\n", left, left+plotW, y(v), y(v), left-6, y(v)+4, v)
	}
	colors := []string{"#1f77b4", "#999999", "#ffbf00"}
	for i, c := range cells {
		x0 := left + i*groupW + groupPadW/2
		for k, v := range []float64{median(c.srv["ours"].rates), median(c.srv["postfix"].rates), c.ceiling} {
			yy := y(v)
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%.0f msg/s</title></rect>`+"\n", x0+k*barW, yy, barW-1, float64(h-bottom)-yy, colors[k], v)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%d</text><text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n",
			x0+3*barW/2, h-bottom+14, c.sessions, x0+3*barW/2, h-bottom+28, strings.ReplaceAll(sizeName(c.size), " ", ""))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d">sessions / size</text>`+"\n", 4, h-bottom+21)
	for k, name := range []string{"ours", "Postfix qmqpd+cleanup", "fsync ceiling (create+write+fsync)"} {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", left+k*220, h-30, colors[k], left+k*220+16, h-20, name)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// renderVariants compares the extra builds with ours and Postfix.
func renderVariants(cells []*cellResult, mem map[string]*memResult, o options) string {
	if len(o.variants) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nOther builds of our qmqpd measured in the same rotation:\n\n")
	b.WriteString("| sessions | size | build | msg/s | vs ours | vs Postfix | p50 / p99 | CPU s/1000 | peak RSS MiB |\n")
	b.WriteString("|---:|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		ur, pr := median(c.srv["ours"].rates), median(c.srv["postfix"].rates)
		for _, v := range o.variants {
			r := c.srv[v.name]
			vr := median(r.rates)
			fmt.Fprintf(&b, "| %d | %s | %s | %.0f | %s | %s | %s / %s | %.3f | %s |\n", c.sessions, sizeName(c.size), v.name,
				vr, ratio(vr, ur), ratio(vr, pr), ms(percentile(r.lat, 50)), ms(percentile(r.lat, 99)), median(r.cpu), mib(r.rssKB))
		}
	}
	for _, v := range o.variants {
		if m := mem[v.name]; m != nil {
			fmt.Fprintf(&b, "\nMemory test, build %s: %d clients × %s: peak RSS %s MiB, %d errors, %s", v.name, m.clients, sizeName(m.size), mib(m.peakKB), m.errors, m.elapsed.Round(time.Millisecond))
			if m.aborted {
				fmt.Fprintf(&b, " (ABORTED: grew past %d MiB)", o.memLimitMB)
			}
			b.WriteString(".\n")
		}
	}
	return b.String()
}
