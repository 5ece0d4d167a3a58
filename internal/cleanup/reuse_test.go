package cleanup

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sharedCleanup is one Cleanup for many messages whose settings, queue ID
// and clock change from message to message, so that messages reuse each
// other's memory the way they do in the server.
type sharedCleanup struct {
	c     *Cleanup
	store *memStore
	now   time.Time
	lines []string
}

func newSharedCleanup() *sharedCleanup {
	sh := &sharedCleanup{store: &memStore{wakeErr: errNoQmgr}}
	sh.c = &Cleanup{Store: sh.store, Log: logCollector(&sh.lines), Now: func() time.Time { return sh.now }}
	return sh
}

// open starts the message of g.
func (sh *sharedCleanup) open(t *testing.T, g goldenRun) (*Stream, *memFile) {
	t.Helper()
	sh.c.Settings, sh.now = g.s, g.now
	sh.store.id, sh.store.created = g.qid, g.created
	st, err := sh.c.Open(t.Context(), g.s.QMQPFlags())
	if err != nil {
		t.Fatal(err)
	}
	return st, sh.store.files[len(sh.store.files)-1]
}

// finish completes the message of g and compares it with Postfix's; the
// log lines too when checkLog is set.
func (sh *sharedCleanup) finish(t *testing.T, name string, g goldenRun, st *Stream, f *memFile, checkLog bool) {
	t.Helper()
	status, reason := st.Finish()
	var got []byte
	if f.committed {
		got = f.buf.Bytes()
	}
	lines := g.wantLog
	if checkLog {
		lines = sh.lines
	}
	r := g.result(status, reason, got, lines)
	if r.gotReply != string(r.wantReply) {
		t.Errorf("%s: reply %q, want %q", name, r.gotReply, r.wantReply)
	}
	if diff := cmp.Diff(r.wantLog, r.gotLog); diff != "" {
		t.Errorf("%s: cleanup log lines differ (-postfix +ours):\n%s", name, diff)
	}
	if !bytes.Equal(r.wantQF, r.got) {
		t.Errorf("%s: queue file differs (-postfix +ours):\n%s", name, cmp.Diff(dumpRecords(r.wantQF), dumpRecords(r.got)))
	}
}

// TestGoldenReused replays every golden case through one Cleanup, forward
// and backward, so that each message runs in memory an earlier, different
// message used: nothing of one message may show in another.
func TestGoldenReused(t *testing.T) {
	runs := make([]goldenRun, len(goldenCases))
	for i, c := range goldenCases {
		runs[i] = prepareGolden(t, c)
	}
	order := make([]int, 0, 2*len(runs))
	for i := range runs {
		order = append(order, i)
	}
	for i := range runs {
		order = append(order, len(runs)-1-i)
	}
	sh := newSharedCleanup()
	for _, i := range order {
		sh.lines = nil
		st, f := sh.open(t, runs[i])
		for _, r := range runs[i].records {
			if err := st.Record(r.typ, r.data); err != nil {
				t.Fatal(err)
			}
		}
		sh.finish(t, goldenCases[i].name, runs[i], st, f, true)
	}
}

// TestGoldenInterleaved feeds pairs of golden cases to one Cleanup at the
// same time, record by record in turn: open streams share nothing. (Log
// lines are checked by TestGoldenReused; here they interleave.)
func TestGoldenInterleaved(t *testing.T) {
	sh := newSharedCleanup()
	for i := range goldenCases {
		j := (i + 7) % len(goldenCases)
		gi, gj := prepareGolden(t, goldenCases[i]), prepareGolden(t, goldenCases[j])
		// The clock is read at the first record (T): feed it before the
		// next Open changes the clock.
		sti, fi := sh.open(t, gi)
		must(t, sti.Record(gi.records[0].typ, gi.records[0].data))
		stj, fj := sh.open(t, gj)
		for k := range max(len(gi.records), len(gj.records)) {
			if k < len(gj.records) {
				must(t, stj.Record(gj.records[k].typ, gj.records[k].data))
			}
			if k+1 < len(gi.records) {
				must(t, sti.Record(gi.records[k+1].typ, gi.records[k+1].data))
			}
		}
		sh.finish(t, goldenCases[i].name, gi, sti, fi, false)
		sh.finish(t, goldenCases[j].name, gj, stj, fj, false)
	}
}

// lockedStore is a memStore safe for concurrent use; every file gets the
// same queue ID.
type lockedStore struct {
	mu sync.Mutex
	m  memStore
}

func (l *lockedStore) Create(now time.Time) (QueueFile, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.Create(now)
}

// TestConcurrentReuse runs the golden messages that use the default
// settings from several goroutines through one Cleanup at once, each
// several times, and checks every queue file against the one a fresh
// Cleanup writes for the same message: messages that run side by side and
// reuse each other's memory must not see each other. Run it with -race.
func TestConcurrentReuse(t *testing.T) {
	s := settingsFor(t, nil)
	now := time.Unix(1795530772, 0)
	type job struct {
		name    string
		records []rec
		want    []byte
	}
	var jobs []job
	for _, c := range goldenCases {
		if c.cf != nil {
			continue
		}
		records, refusal := qmqpdRecords(submission{msg: []byte(c.msg), sender: c.sender, rcpts: c.rcpts,
			arrival: time.Unix(1795530772, 599664), port: "40000", lineLimit: s.LineLengthLimit,
			hostname: s.MyHostname, queueID: "ABC123"}, s.VERPDelimiterFilter)
		if refusal != "" {
			continue
		}
		_, _, want, _ := runCleanup(t, s, &memStore{}, now, records)
		jobs = append(jobs, job{c.name, records, want})
	}
	store := &lockedStore{}
	c := &Cleanup{Settings: s, Store: store, Log: func(bool, string) {}, Now: func() time.Time { return now }}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for round := range 3 {
				for k := range jobs {
					j := jobs[(k+g*5+round)%len(jobs)]
					st, err := c.Open(t.Context(), s.QMQPFlags())
					if err != nil {
						t.Error(err)
						return
					}
					f := st.file.(*memFile)
					for i, r := range j.records {
						if err := st.Record(r.typ, r.data); err != nil {
							t.Error(err)
							return
						}
						if i%4 == 0 {
							runtime.Gosched() // let the messages interleave
						}
					}
					st.Finish()
					var got []byte
					if f.committed {
						got = f.buf.Bytes()
					}
					if !bytes.Equal(got, j.want) {
						t.Errorf("%s: queue file differs from a fresh Cleanup's:\n%s", j.name, cmp.Diff(dumpRecords(j.want), dumpRecords(got)))
					}
				}
			}
		})
	}
	wg.Wait()
}
