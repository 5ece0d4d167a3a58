package cleanup

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/postcat"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// TestOurFilesRealPostcat writes the queue file of every golden case with
// this package and checks that the real postcat of Postfix 3.7.11 reads
// it completely without a warning (postcat -e -v, and postcat -v -o, which
// walks every record of every section), and that this project's postcat
// prints exactly what the real one prints for it.
func TestOurFilesRealPostcat(t *testing.T) {
	testenv.NeedPostfix(t)
	t.Parallel()
	cf := t.TempDir()
	mainCF := filepath.Join(cf, "main.cf")
	if err := os.WriteFile(mainCF, []byte("queue_directory = "+t.TempDir()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Postfix pauses while main.cf is younger than a second or so.
	old := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(mainCF, old, old))
	dir := t.TempDir()
	type job struct{ name, path string }
	var jobs []job
	for _, c := range goldenCases {
		r := replayGolden(t, c)
		if r.got == nil {
			continue
		}
		p := filepath.Join(dir, c.name)
		must(t, os.WriteFile(p, r.got, 0o600))
		jobs = append(jobs, job{c.name, p})
	}
	if len(jobs) < 50 {
		t.Fatalf("only %d queued golden cases", len(jobs))
	}
	var wg sync.WaitGroup
	ch := make(chan job)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				for _, opts := range [][]string{{"-e", "-v"}, {"-v", "-o"}} {
					args := append(append([]string{"-c", cf}, opts...), j.path)
					cmd := exec.Command(testenv.RealPostcat)
					cmd.Args = append([]string{"postcat"}, args...)
					cmd.Env = []string{"TZ=UTC"}
					var o, e bytes.Buffer
					cmd.Stdout, cmd.Stderr = &o, &e
					if err := cmd.Run(); err != nil {
						t.Errorf("%s: real postcat %s: %v\n%s", j.name, strings.Join(opts, " "), err, e.String())
						continue
					}
					for _, l := range strings.Split(e.String(), "\n") {
						if strings.Contains(l, "warning:") || strings.Contains(l, "fatal:") || strings.Contains(l, "panic:") {
							t.Errorf("%s: real postcat %s: %s", j.name, strings.Join(opts, " "), l)
						}
					}
					if !strings.Contains(o.String(), "*** MESSAGE FILE END ") {
						t.Errorf("%s: real postcat %s did not reach the end record:\n%s", j.name, strings.Join(opts, " "), o.String())
					}
					var ours, oursErr bytes.Buffer
					env := func(n string) string {
						if n == "TZ" {
							return "UTC"
						}
						return ""
					}
					if st := postcat.Run(args, env, strings.NewReader(""), &ours, &oursErr); st != 0 || oursErr.Len() != 0 {
						t.Errorf("%s: our postcat %s: exit %d: %s", j.name, strings.Join(opts, " "), st, oursErr.String())
					}
					if ours.String() != o.String() {
						t.Errorf("%s: our postcat %s differs from the real one\n=== real\n%s=== ours\n%s", j.name, strings.Join(opts, " "), o.String(), ours.String())
					}
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
}
