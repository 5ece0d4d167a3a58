package cleanup

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qmqpd-go/qmqpd/internal/queuefile"
	"github.com/qmqpd-go/qmqpd/internal/testenv"
)

// crashChildEnv names the queue directory a crash-test child process
// writes messages into, without end, until it is killed.
const crashChildEnv = "CLEANUP_CRASH_CHILD_QUEUE"

// crashPauseEnv is the number of the message (from 0) in whose middle the
// child announces "mid" and pauses to be killed (none when unset).
const crashPauseEnv = "CLEANUP_CRASH_CHILD_PAUSE"

// TestCrashNoPartialReadyFile kills, with SIGKILL, a process that writes
// messages of up to 2 MB one after the other into a real queue directory,
// at several moments, then checks every file left in incoming/: a ready
// file (mode 0700, the only files qmgr picks up) always holds a complete,
// well-formed message, checked by our reader and by the real postcat; any
// other file is still mode 0600 (not ready).
func TestCrashNoPartialReadyFile(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	t.Parallel()
	qdir := t.TempDir()
	if err := os.Mkdir(filepath.Join(qdir, "incoming"), 0o700); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Each child announces on its standard output when it is half-way
	// through writing a message ("mid") and when the message is queued
	// ("done"). Rounds 1 to 3 kill it in the middle of a message; round 4
	// kills it right after a message was queued, while the next one is
	// being started.
	for round := 1; round <= 4; round++ {
		cmd := exec.Command(exe, "-test.run=^TestCrashNoPartialReadyFile$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+qdir, fmt.Sprintf("%s=%d", crashPauseEnv, round))
		if round == 4 {
			cmd.Env = append(os.Environ(), crashChildEnv+"="+qdir, crashPauseEnv+"=-1")
		}
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := "mid"
		if round == 4 {
			killAt = "done"
		}
		sc := bufio.NewScanner(stdout)
		want := 1 // round 1-3: the "mid" of message number round
		if round == 4 {
			want = 2 // right after the second message was queued
		}
		for n := 0; n < want && sc.Scan(); {
			if sc.Text() == killAt {
				n++
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, stdout)
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child did not die by the signal (%v):\n%s", round, err, errOut.String())
		}
	}

	var ready, partial []string
	err = filepath.WalkDir(filepath.Join(qdir, "incoming"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch fi.Mode().Perm() {
		case queuefile.ModeReady:
			ready = append(ready, p)
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := checkQueueFile(b); err != nil {
				t.Errorf("ready file %s is not complete: %v", d.Name(), err)
			}
		case queuefile.ModeWriting:
			partial = append(partial, p)
		default:
			t.Errorf("%s: mode %v", d.Name(), fi.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ready files, %d unfinished (mode 0600) files", len(ready), len(partial))
	if len(ready) < 6 || len(partial) < 3 {
		t.Fatalf("%d ready files and %d unfinished: the kills did not happen where they should", len(ready), len(partial))
	}
	if testenv.HavePostfix() {
		checkWithRealPostcat(t, ready[len(ready)-8:])
	}
}

// checkWithRealPostcat runs the real postcat -v (every record) on files
// and fails on any warning or a missing end record.
func checkWithRealPostcat(t *testing.T, files []string) {
	cf := t.TempDir()
	mainCF := filepath.Join(cf, "main.cf")
	must(t, os.WriteFile(mainCF, []byte("queue_directory = "+t.TempDir()+"\n"), 0o644))
	old := time.Now().Add(-time.Hour)
	must(t, os.Chtimes(mainCF, old, old))
	for _, f := range files {
		cmd := exec.Command(testenv.RealPostcat, "-c", cf, "-v", f)
		cmd.Env = []string{"TZ=UTC"}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if err != nil || strings.Contains(e.String(), "warning:") || !strings.Contains(o.String(), "*** MESSAGE FILE END ") {
			t.Errorf("real postcat -v %s: %v\n%s", filepath.Base(f), err, e.String())
		}
	}
}

// crashChild writes messages into queue directory dir until killed.
func crashChild(t *testing.T, dir string) {
	s := DefaultSettings("research.example.org", "example.org")
	s.Location = time.UTC
	c := &Cleanup{Settings: s, Store: QueueStore{Queue: &queuefile.Queue{Dir: dir}}}
	pauseAt, _ := strconv.Atoi(os.Getenv(crashPauseEnv))
	body := bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcd\n"), 26000)
	for i := 0; ; i++ {
		lines := 2000 + (i*7919)%24000 // 150 KB to 2 MB
		records, _ := qmqpdRecords(submission{
			msg:    append([]byte(fmt.Sprintf("Subject: message %d\n\n", i)), body[:lines*77]...),
			sender: "a@example.com", rcpts: []string{"b@example.net", fmt.Sprintf("r%d@example.net", i)},
			arrival: time.Now(), port: "40000", lineLimit: s.LineLengthLimit, hostname: s.MyHostname, queueID: "QUEUEID",
		}, s.VERPDelimiterFilter)
		st, err := c.Open(context.Background(), s.QMQPFlags())
		if err != nil {
			t.Fatal(err)
		}
		for k, r := range records {
			if err := st.Record(r.typ, r.data); err != nil {
				t.Fatal(err)
			}
			if k == len(records)/2 && i == pauseAt {
				// Give the parent time to kill us here, half-way
				// through the message.
				fmt.Println("mid")
				time.Sleep(3 * time.Second)
			}
		}
		if status, reason := st.Finish(); status != StatOK {
			t.Fatalf("message %d: status %#x %s", i, status, reason)
		}
		fmt.Println("done")
	}
}
