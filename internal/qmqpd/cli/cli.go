// Package cli is the qmqpd command: it parses the command line (Postfix's
// daemon options plus our standalone options), loads main.cf, sets up
// logging and the queue, and runs the server in one of three modes:
//
//   - under Postfix's master(8) (-t inet|unix): the master(8) child protocol
//     on inherited descriptors, exactly like Postfix's qmqpd;
//   - standalone (--listen, or sockets passed by systemd): a long-running
//     server with graceful shutdown and configuration reload;
//   - one connection on stdin/stdout (-S).
package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/alecthomas/kong"
	"github.com/qmqpd-go/qmqpd/internal/cleanupclient"
	"github.com/qmqpd-go/qmqpd/internal/daemonopts"
	"github.com/qmqpd-go/qmqpd/internal/maillog"
	"github.com/qmqpd-go/qmqpd/internal/maincf"
	"github.com/qmqpd-go/qmqpd/internal/master"
	"github.com/qmqpd-go/qmqpd/internal/qmqpd"
	"github.com/qmqpd-go/qmqpd/internal/queuefile"
)

// grammar is the kong command line: Postfix's generic daemon options and
// our standalone options.
type grammar struct {
	daemonopts.Flags `embed:""`

	Listen          []string      `name:"listen" placeholder:"ADDR" help:"Listen on ADDR (host:port, [ipv6]:port, :port or unix:/path); repeatable. Runs qmqpd standalone."`
	ConfigDir       string        `name:"config" placeholder:"DIR" help:"Read main.cf from DIR (default: $MAIL_CONFIG, else /etc/postfix). -c is Postfix's chroot option."`
	ReadyFile       string        `name:"ready-file" placeholder:"PATH" help:"After binding, write the bound addresses (one per line) to PATH, atomically."`
	MaxConnections  int           `name:"max-connections" default:"100" help:"Serve at most this many clients at once (standalone)."`
	ShutdownTimeout time.Duration `name:"shutdown-timeout" default:"5m" help:"On SIGTERM/SIGINT, wait this long for sessions in progress."`

	Args []string `arg:"" optional:"" passthrough:"" help:"Service arguments (qmqpd takes none)."`
}

// longWithValue lists our long options that take a separate value.
var longWithValue = map[string]bool{"listen": true, "config": true, "ready-file": true, "max-connections": true, "shutdown-timeout": true}

// syslogSocketEnv names the syslog socket instead of /dev/log. It exists
// for tests only (they check the datagrams the binary sends without
// touching the machine's syslog); it is not a documented option.
const syslogSocketEnv = "QMQPD_TEST_SYSLOG_SOCKET"

// Env is what Main needs from the process; tests substitute parts.
type Env struct {
	Args   []string // os.Args
	Stdin  *os.File
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	Lookup func(string) (string, bool)
}

// OSEnv returns the real process environment.
func OSEnv() Env {
	return Env{Args: os.Args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, Lookup: os.LookupEnv}
}

// daemon is one run of the command.
type daemon struct {
	env       Env
	procName  string
	g         grammar
	updates   []string                       // -i, -m and -o as name=value, in order
	queueDir  string                         // the queue directory as the standalone server sees it
	queueConf string                         // its queue_directory value (standalone)
	startDir  string                         // the working directory at start (standalone)
	syncer    *queuefile.Syncer              // group commit for the built-in cleanup
	log       *maillog.Logger                // the current logger (main goroutine)
	logp      atomic.Pointer[maillog.Logger] // the same, for other goroutines
	logOpts   maillog.Options
	cfg       *maincf.Config
	tag       string
	verbose   int // Postfix's msg_verbose: $MAIL_VERBOSE and -v
}

// Main runs qmqpd and returns the exit status.
func Main(env Env) int {
	d := &daemon{env: env, procName: "qmqpd"}
	if len(env.Args) > 0 {
		d.procName = path.Base(env.Args[0])
	}
	d.tag = "postfix/" + d.procName
	err := d.run()
	if err != nil {
		d.fatal(err.Error())
	}
	if err != nil && !d.isStandalone() {
		// Like Postfix's msg_fatal: pause before exiting, so that a
		// persistent problem (cleanup unreachable, a broken main.cf) does
		// not make master(8) restart the service in a tight loop. The
		// standalone server exits at once: its supervisor (systemd's
		// RestartSec) paces restarts.
		time.Sleep(fatalPause)
	}
	if d.log != nil {
		d.log.Close()
	}
	if err != nil {
		return 1
	}
	return 0
}

// Connection attempts to the cleanup service, as Postfix's
// mail_connect_wait makes them.
const (
	cleanupAttempts   = 11
	cleanupRetryDelay = 10 * time.Second
)

// fatalPause is how long a fatal error waits before the process exits
// (master and -S modes), as in Postfix.
const fatalPause = time.Second

// isStandalone tells from the raw command line and environment whether
// this is the standalone server (--listen, or sockets from systemd), also
// when the command line could not be parsed.
func (d *daemon) isStandalone() bool {
	if d.env.Getenv("LISTEN_FDS") != "" {
		return true
	}
	for _, a := range d.env.Args[min(1, len(d.env.Args)):] {
		if a == "--" {
			break
		}
		if a == "--listen" || strings.HasPrefix(a, "--listen=") {
			return true
		}
	}
	return false
}

// fatal reports a fatal error: to the mail log, and to stderr (unless -V
// already copies log lines there).
func (d *daemon) fatal(text string) {
	if l := d.logger(); l != nil {
		l.Log(maillog.Fatal, text)
	}
	if d.logger() == nil || !d.g.Stderr {
		fmt.Fprintf(d.env.Stderr, "%s: fatal: %s\n", d.tag, maillog.Printable(text, false))
	}
}

func (d *daemon) warn(text string)  { d.logOrStderr(maillog.Warning, text) }
func (d *daemon) error(text string) { d.logOrStderr(maillog.Error, text) }

func (d *daemon) logOrStderr(level maillog.Level, text string) {
	if l := d.logger(); l != nil {
		l.Log(level, text)
		return
	}
	fmt.Fprintf(d.env.Stderr, "%s: %s: %s\n", d.tag, level, text)
}

func (d *daemon) parseArgs() error {
	args := d.env.Args[1:]
	updates, optErr := daemonopts.Check(args, longWithValue)
	d.updates = updates
	parser, err := kong.New(&d.g, kong.Name(d.procName), kong.Writers(d.env.Stdout, d.env.Stderr),
		kong.Exit(func(int) {}), kong.Description("Postfix-compatible QMQP server."))
	if err != nil {
		return err
	}
	if optErr != nil {
		return optErr
	}
	if _, err := parser.Parse(args); err != nil {
		return err
	}
	return nil
}

func (d *daemon) run() error {
	if err := d.parseArgs(); err != nil {
		// Postfix reads main.cf before it looks at the options, so a broken
		// main.cf is reported first.
		if _, lerr := maincf.Load(maincf.Options{ConfigDir: d.g.ConfigDir, Getenv: d.env.Getenv}); lerr != nil {
			return lerr
		}
		return err
	}
	g := &d.g
	d.verbose = g.Verbose
	if _, ok := d.env.Lookup(verboseEnv); ok {
		d.verbose++
		d.logStarted()
	}
	if g.Chroot && len(g.Args) > 0 {
		// "qmqpd -c DIR" as for postconf(1): for daemons -c is chroot.
		if fi, err := os.Stat(g.Args[0]); err == nil && fi.IsDir() {
			return fmt.Errorf("unexpected command-line argument: %s (for daemons -c means chroot, as in Postfix; give the configuration directory with --config %s or MAIL_CONFIG=%s)", g.Args[0], g.Args[0], g.Args[0])
		}
	}
	service := g.ServiceName
	if service == "" {
		service = d.procName
	}
	cfg, err := maincf.Load(maincf.Options{
		ConfigDir:   d.g.ConfigDir,
		Overrides:   d.updates,
		ProcessName: d.procName,
		ServiceName: service,
		Getenv:      d.env.Getenv,
		Warn:        d.warn,
	})
	if err != nil {
		return err
	}
	// Postfix's start-up checks of the global parameters (mail_params_init),
	// with the -o overrides applied, in every mode.
	if err := cfg.CheckGlobals(); err != nil {
		return err
	}
	d.cfg = cfg
	standalone := len(g.Listen) > 0 || d.env.Getenv("LISTEN_FDS") != ""
	underMaster := !standalone && !g.Stdio
	if err := d.openLog(underMaster); err != nil {
		return err
	}
	if g.Debugger {
		if err := d.debugProcess(); err != nil {
			return err
		}
	}
	switch {
	case g.Stdio:
		return d.runStdio()
	case standalone:
		return d.runStandalone()
	}
	return d.runMaster(service)
}

// logOptions computes the mail log settings from main.cf: syslog, or
// maillog_file (through postlogd(8) under master, written directly
// otherwise).
func (d *daemon) logOptions(underMaster bool) (maillog.Options, error) {
	get := func(name string) string { v, _ := d.cfg.Get(name); return v }
	facility := get("syslog_facility")
	if _, ok := maillog.Facility(facility); !ok {
		return maillog.Options{}, fmt.Errorf("file %s/main.cf: parameter syslog_facility: unrecognized value: %s", d.cfg.Dir(), facility)
	}
	opts := maillog.Options{
		Tag:             get("syslog_name") + "/" + d.procName,
		Facility:        facility,
		Hostname:        get("myhostname"),
		MaillogFile:     get("maillog_file"),
		MaillogPrefixes: maincf.SplitList(get("maillog_file_prefixes")),
	}
	if opts.MaillogFile != "" && underMaster {
		// Relative, like Postfix: master(8) starts its children in the
		// queue directory, and the path stays valid after a chroot there
		// (postlogd may be restarted, so the socket is reopened by name).
		opts.PostlogSocket = filepath.Join("public", get("postlog_service_name"))
	}
	if d.g.Stderr {
		opts.Stderr = d.env.Stderr
	}
	opts.SyslogSocket = d.env.Getenv(syslogSocketEnv)
	if b, err := d.cfg.Bool("smtputf8_enable"); err == nil {
		opts.UTF8 = b
	}
	return opts, nil
}

// openLog sets up the mail log from main.cf.
func (d *daemon) openLog(underMaster bool) error {
	opts, err := d.logOptions(underMaster)
	if err != nil {
		return err
	}
	d.tag = opts.Tag
	l, err := maillog.New(opts)
	if err != nil {
		return err
	}
	d.setLog(l, opts)
	return nil
}

// setLog makes l the current logger (sessions pick it up through
// currentLog).
func (d *daemon) setLog(l *maillog.Logger, opts maillog.Options) {
	d.log = l
	d.logOpts = opts
	d.logp.Store(l)
}

// logger returns the current logger; safe from any goroutine.
func (d *daemon) logger() *maillog.Logger { return d.logp.Load() }

// currentLog is the qmqpd.Logger given to the server: it always writes to
// the daemon's current logger, which a reload may replace.
type currentLog struct{ d *daemon }

func (c currentLog) Log(level maillog.Level, text string) { c.d.logger().Log(level, text) }

// sameLogOptions reports whether two settings give the same mail log.
func sameLogOptions(a, b maillog.Options) bool {
	return a.Tag == b.Tag && a.Facility == b.Facility && a.Hostname == b.Hostname &&
		a.MaillogFile == b.MaillogFile && a.PostlogSocket == b.PostlogSocket && a.UTF8 == b.UTF8 &&
		strings.Join(a.MaillogPrefixes, " ") == strings.Join(b.MaillogPrefixes, " ")
}

// cleanupLogger returns the logger for the built-in cleanup's lines: the
// same destinations (shared, so lines stay in order), with the tag
// "$syslog_name/cleanup" that Postfix's cleanup(8) lines carry (log tools
// look for it).
func (d *daemon) cleanupLogger() *maillog.Logger {
	tag := d.logOpts.Tag
	if i := strings.LastIndexByte(tag, '/'); i >= 0 {
		tag = tag[:i+1] + "cleanup"
	} else {
		tag = "cleanup"
	}
	return d.logger().WithTag(tag)
}

// serverConfig builds the session configuration (access lists etc.).
func (d *daemon) serverConfig(underMaster bool) (*qmqpd.Config, error) {
	return qmqpd.ConfigFromMainCF(d.cfg, underMaster, qmqpd.Reporter{Warn: d.warn, Error: d.error})
}

// queuer returns the configured Queuer; queueDir is where paths start
// ("" when the process already runs inside the queue directory).
func (d *daemon) queuer(underMaster bool, queueDir string) (qmqpd.Queuer, error) {
	return d.queuerFor(d.cfg, underMaster, queueDir)
}

func (d *daemon) queuerFor(cfg *maincf.Config, underMaster bool, queueDir string) (qmqpd.Queuer, error) {
	q, err := d.baseQueuer(cfg, underMaster, queueDir)
	if err != nil {
		return nil, err
	}
	return d.withVerbose(cfg, q), nil
}

// builtinCleanup reports whether the current configuration uses the
// built-in cleanup (a configuration error is reported later, when the
// queuer is made).
func (d *daemon) builtinCleanup(underMaster bool) bool {
	mode, err := qmqpd.CleanupMode(d.cfg, underMaster)
	return err == nil && mode == qmqpd.ModeBuiltin
}

func (d *daemon) baseQueuer(cfg *maincf.Config, underMaster bool, queueDir string) (qmqpd.Queuer, error) {
	mode, err := qmqpd.CleanupMode(cfg, underMaster)
	if err != nil {
		return nil, err
	}
	switch mode {
	case qmqpd.ModeService:
		name, err := cfg.Get("cleanup_service_name")
		if err != nil {
			return nil, err
		}
		ipc, err := cfg.Time("ipc_timeout", time.Second, 0)
		if err != nil {
			return nil, err
		}
		client := &cleanupclient.Client{
			Path:    filepath.Join(queueDir, "public", name),
			Name:    "public/" + name,
			Timeout: ipc,
			Verbose: d.verbose,
			Info:    func(s string) { d.logger().Log(maillog.Info, s) },
			Warn:    func(s string) { d.logger().Log(maillog.Warning, s) },
		}
		if !d.isStandalone() {
			// As Postfix's qmqpd: wait for a cleanup service that is
			// being restarted (11 attempts, 10 s apart) before giving
			// up. The standalone server answers the client at once
			// instead ("queue file write error").
			client.Attempts, client.RetryDelay = cleanupAttempts, cleanupRetryDelay
		}
		return qmqpd.ServiceQueuer{Client: client}, nil
	}
	return d.newBuiltinQueuer(cfg, queueDir, !underMaster)
}

// runMaster is the master(8) child: Postfix's single_server skeleton.
func (d *daemon) runMaster(service string) error {
	g := &d.g
	if !g.NoDetach && isatty(d.env.Stdin) {
		return errors.New("do not run this command by hand")
	}
	transport, err := g.TransportType()
	if err != nil {
		return err
	}
	gen, err := d.generation()
	if err != nil {
		return err
	}
	var lock *os.File
	if !g.Alone {
		if lock, err = master.OpenLock(master.LockPath(string(transport), service)); err != nil {
			return err
		}
	}
	queueDir, err := d.cfg.Get("queue_directory")
	if err != nil {
		return err
	}
	if err := os.Chdir(queueDir); err != nil {
		return fmt.Errorf("chdir(\"%s\"): %s", queueDir, syserr.Text(err))
	}
	scfg, err := d.serverConfig(true)
	if err != nil {
		return err
	}
	if g.Chroot {
		if d.builtinCleanup(true) {
			d.ensureSyncer("")
		}
		loadBeforeChroot()
		if err := syscall.Chroot(queueDir); err != nil {
			return fmt.Errorf("chroot(%s): %s", queueDir, syserr.Text(err))
		}
		if err := os.Chdir("/"); err != nil {
			return fmt.Errorf("chdir(/): %s", syserr.Text(err))
		}
	}
	if g.Unprivileged {
		if err := dropPrivileges(scfg.OwnerUID, scfg.OwnerGID); err != nil {
			return err
		}
	}
	listenFDs := master.ListenFDs(max(g.Sockets, 1))
	for _, fd := range append(listenFDs, master.StatusFD) {
		var st syscall.Stat_t
		if err := syscall.Fstat(fd, &st); err != nil {
			// Postfix fails when it registers the descriptor with its
			// event loop.
			return fmt.Errorf("event_enable_read: epoll_ctl EPOLL_CTL_ADD: %s", syserr.Text(err))
		}
	}
	if len(g.Args) > 0 {
		return fmt.Errorf("unexpected command-line argument: %s", g.Args[0])
	}
	d.logTranspMask()
	q, err := d.queuer(true, "")
	if err != nil {
		return err
	}
	maxUse, err := d.cfg.Int("max_use", 0, 0)
	if err != nil {
		return err
	}
	maxIdle, err := d.cfg.Time("max_idle", 0, 0)
	if err != nil {
		return err
	}
	srv := qmqpd.NewServer(scfg, q, currentLog{d})
	srv.SpoolDir = spoolDir("")
	master.CloseOnExecInherited()
	var verbosef func(format string, args ...any)
	if d.verbose > 0 {
		verbosef = d.verboseInfo
	}
	reason, err := master.Run(master.Config{
		ListenFDs:  listenFDs,
		Transport:  string(transport),
		StatusFD:   master.StatusFD,
		Lock:       lock,
		Generation: gen,
		MaxUse:     maxUse,
		MaxIdle:    maxIdle,
		// A session's fatal error (e.g. cleanup unreachable, wrong
		// privileges) ends the process at once, as in Postfix.
		Accepted:    srv.ServeConn,
		Established: func() { d.verboseInfo("connection established") },
		// Postfix logs "connection closed" only when master(8) took the
		// Avail update; otherwise "master disconnect -- exiting" follows.
		Notified: func(status int32, err error) {
			if err != nil {
				d.verboseInfo("master_notify: status %d: %s", status, notifyErrText(err))
				return
			}
			d.verboseInfo("master_notify: status %d", status)
			if status == master.Avail {
				d.verboseInfo("connection closed")
			}
		},
		Errorf: func(format string, args ...any) { d.error(fmt.Sprintf(format, args...)) },
		Warnf:  func(format string, args ...any) { d.warn(fmt.Sprintf(format, args...)) },
		// -v: with -t pass, the trace of the hand-over's attributes.
		Verbosef: verbosef,
	})
	if err == nil {
		switch reason {
		case master.IdleTimeout, master.MasterGone:
			d.verboseInfo("%s", reason)
		}
	}
	return err
}

// notifyErrText is the %m text of a failed status update.
func notifyErrText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return syserr.Text(errno)
	}
	return err.Error()
}

// confine applies -c and -u to the standalone server: it creates the queue
// directories (owned by mail_owner with -u), enters the queue directory,
// chroots to it with -c and drops to mail_owner's privileges with -u. It
// returns the queue directory as seen afterwards: "", the current
// directory.
// Inside a chroot, SIGHUP cannot re-read main.cf (as with Postfix, whose
// chrooted daemons are restarted instead).
func (d *daemon) confine(queueDir string) (string, error) {
	uid, gid := -1, -1
	if d.g.Unprivileged {
		owner, err := d.cfg.Get("mail_owner")
		if err != nil {
			return "", err
		}
		u, err := user.Lookup(owner)
		if err != nil {
			return "", fmt.Errorf("file %s/main.cf: parameter mail_owner: unknown user name value: %s", d.cfg.Dir(), owner)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	}
	if d.builtinCleanup(false) {
		if err := makeQueueDirs(queueDir); err != nil {
			return "", err
		}
		if uid >= 0 {
			for _, sub := range queueDirs {
				if err := os.Chown(filepath.Join(queueDir, sub.name), uid, gid); err != nil {
					return "", fmt.Errorf("chown %s: %s", filepath.Join(queueDir, sub.name), syserr.Text(err))
				}
			}
		}
	}
	if err := os.Chdir(queueDir); err != nil {
		return "", fmt.Errorf("chdir(\"%s\"): %s", queueDir, syserr.Text(err))
	}
	if d.g.Chroot {
		if d.builtinCleanup(false) {
			d.ensureSyncer("")
		}
		loadBeforeChroot()
		if err := syscall.Chroot(queueDir); err != nil {
			return "", fmt.Errorf("chroot(%s): %s", queueDir, syserr.Text(err))
		}
		if err := os.Chdir("/"); err != nil {
			return "", fmt.Errorf("chdir(/): %s", syserr.Text(err))
		}
	}
	if uid >= 0 {
		if err := dropPrivileges(uid, gid); err != nil {
			return "", err
		}
	}
	// From now on paths are relative to the queue directory, as in Postfix:
	// mail_owner may not be allowed to traverse its parents.
	return "", nil
}

func dropPrivileges(uid, gid int) error {
	if err := syscall.Setgroups([]int{gid}); err != nil {
		return fmt.Errorf("setgroups(1, &%d): %s", gid, syserr.Text(err))
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid(%d): %s", gid, syserr.Text(err))
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid(%d): %s", uid, syserr.Text(err))
	}
	return nil
}

// generation reads $GENERATION, as Postfix's skeleton does in master and -S
// modes.
func (d *daemon) generation() (uint32, error) {
	genText, genSet := d.env.Lookup("GENERATION")
	gen, err := daemonopts.Generation(genText, genSet)
	if err != nil {
		return 0, err
	}
	if genSet {
		d.verboseInfo("process generation: %s (%o)", genText, gen)
	}
	return gen, nil
}

// runStdio serves one client on stdin/stdout (-S).
func (d *daemon) runStdio() error {
	if _, err := d.generation(); err != nil {
		return err
	}
	queueDir, err := d.cfg.Get("queue_directory")
	if err != nil {
		return err
	}
	// As Postfix's qmqpd -S: mail_owner must be valid, and a client on a
	// network socket (stdin from inetd) is only served with mail_owner's
	// privileges.
	scfg, err := d.serverConfig(true)
	if err != nil {
		return err
	}
	if len(d.g.Args) > 0 {
		return fmt.Errorf("unexpected command-line argument: %s", d.g.Args[0])
	}
	if d.g.Chroot || d.g.Unprivileged {
		if queueDir, err = d.confine(queueDir); err != nil {
			return err
		}
	}
	d.logTranspMask()
	q, err := d.queuer(false, queueDir)
	if err != nil {
		return err
	}
	srv := qmqpd.NewServer(scfg, q, currentLog{d})
	srv.SpoolDir = spoolDir(queueDir)
	conn := &stdioConn{in: pollable(d.env.Stdin), out: d.env.Stdout}
	if f, ok := d.env.Stdout.(*os.File); ok {
		conn.out = pollable(f)
	}
	return srv.ServeConn(conn)
}

// runStandalone is the long-running server of our own.
func (d *daemon) runStandalone() error {
	queueDir, err := d.cfg.Get("queue_directory")
	if err != nil {
		return err
	}
	scfg, err := d.serverConfig(false)
	if err != nil {
		return err
	}
	if len(d.g.Args) > 0 {
		return fmt.Errorf("unexpected command-line argument: %s", d.g.Args[0])
	}
	d.queueConf = queueDir
	if d.startDir, err = os.Getwd(); err != nil {
		return fmt.Errorf("getcwd: %s", syserr.Text(err))
	}
	// Bind first: the addresses may need privileges that -u gives up.
	listeners, err := d.listeners()
	if err != nil {
		return err
	}
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	// Signals that come before the server runs wait in the channel.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var addrs []string
	for _, l := range listeners {
		addrs = append(addrs, listenerName(l))
	}
	// The ready file is written while its path is still reachable (before
	// -c and -u); clients may connect from now on, the kernel queues them.
	// The queue directories the built-in cleanup needs exist by then, so
	// that whoever waits for the file finds them.
	if d.builtinCleanup(false) {
		if err := makeQueueDirs(queueDir); err != nil {
			closeAll()
			return err
		}
	}
	if d.g.ReadyFile != "" {
		if err := writeAtomic(d.g.ReadyFile, strings.Join(addrs, "\n")+"\n"); err != nil {
			closeAll()
			return fmt.Errorf("write %s: %v", d.g.ReadyFile, err)
		}
	}
	if d.g.Chroot || d.g.Unprivileged {
		if queueDir, err = d.confine(queueDir); err != nil {
			closeAll()
			return err
		}
	}
	d.logTranspMask()
	q, err := d.queuer(false, queueDir)
	if err != nil {
		closeAll()
		return err
	}
	d.queueDir = queueDir
	srv := qmqpd.NewServer(scfg, q, currentLog{d})
	srv.SpoolDir = spoolDir(queueDir)
	srv.MaxConnections = d.g.MaxConnections
	srv.OnQueueError = func(err error) { d.error(fmt.Sprintf("unable to open a queue file: %v", err)) }
	srv.OnFatal = func(text string) { d.error(text) }

	// Logged before the first connection's lines.
	d.log.Infof("daemon started -- configuration %s, listening on %s", d.cfg.Dir(), strings.Join(addrs, " "))
	served := make(chan error, len(listeners))
	for _, l := range listeners {
		if d.verbose > 0 {
			l = verboseListener{Listener: l, d: d}
		}
		go func() { served <- srv.Serve(l) }()
	}
	running := len(listeners)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				d.reload(srv)
				continue
			}
			d.log.Infof("terminating on signal %d", sig.(syscall.Signal))
			ctx, cancel := context.WithTimeout(context.Background(), d.g.ShutdownTimeout)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil {
				d.warn(fmt.Sprintf("shutdown: %v", err))
			}
			return nil
		case err := <-served:
			running--
			if !errors.Is(err, qmqpd.ErrServerClosed) {
				srv.Close()
				return fmt.Errorf("accept: %v", err)
			}
			if running == 0 {
				return nil
			}
		}
	}
}

// reload re-reads main.cf (SIGHUP); sessions that start afterwards use the
// new settings. A broken configuration is reported and the old one kept.
func (d *daemon) reload(srv *qmqpd.Server) {
	service, _ := d.cfg.Get("service_name")
	cfg, err := maincf.Load(maincf.Options{
		ConfigDir:   d.g.ConfigDir,
		Overrides:   d.updates,
		ProcessName: d.procName,
		ServiceName: service,
		Getenv:      d.env.Getenv,
		Warn:        d.warn,
	})
	if err == nil {
		err = cfg.CheckGlobals()
	}
	if err == nil {
		err = d.apply(srv, cfg)
		if err == nil {
			d.log.Infof("reload -- configuration %s", cfg.Dir())
			return
		}
	}
	d.error(fmt.Sprintf("reload failed, keeping the old configuration: %v", err))
}

// apply switches the server to configuration cfg: session settings, mail
// log (reopened when its settings changed) and queuer. On error nothing
// changes.
func (d *daemon) apply(srv *qmqpd.Server, cfg *maincf.Config) error {
	oldCfg, oldLog, oldOpts := d.cfg, d.log, d.logOpts
	d.cfg = cfg
	scfg, err := d.serverConfig(false)
	var opts maillog.Options
	var newLog *maillog.Logger
	if err == nil {
		if opts, err = d.logOptions(false); err == nil && !sameLogOptions(opts, d.logOpts) {
			newLog, err = maillog.New(opts)
		}
	}
	if err != nil {
		d.cfg = oldCfg
		return err
	}
	if newLog != nil {
		d.setLog(newLog, opts)
	}
	queueDir, queueConf, oldSyncer := d.queueDir, d.queueConf, d.syncer
	if queueConf, err = cfg.Get("queue_directory"); err == nil && queueConf != d.queueConf {
		queueDir, err = d.newQueueDir(queueConf)
	}
	var q qmqpd.Queuer
	if err == nil {
		q, err = d.queuer(false, queueDir)
	}
	if err != nil {
		if newLog != nil {
			d.setLog(oldLog, oldOpts)
			newLog.Close()
		}
		d.cfg = oldCfg
		d.syncer = oldSyncer
		return err
	}
	if queueConf != d.queueConf {
		srv.SetSpoolDir(spoolDir(queueDir))
		d.log.Infof("queue_directory changed from %s to %s: new messages go to the new queue, messages in progress finish in the old one", d.queueConf, queueConf)
		d.queueDir, d.queueConf = queueDir, queueConf
	}
	// Sessions in progress may still log through the old logger (their
	// queuer holds it), so it is left open.
	d.tag = d.logOpts.Tag
	srv.SetQueuer(q)
	srv.SetConfig(scfg)
	return nil
}

// newQueueDir prepares a reload that changes queue_directory to value: it
// returns the path the standalone server uses from now on (a relative
// value is taken from the directory qmqpd started in, as at start-up) and
// forgets the old queue's group-commit syncer (the built-in cleanup makes
// one for the new queue, and creates its directories, as at start-up).
// Inside a chroot the new directory cannot be reached: that is an error.
func (d *daemon) newQueueDir(value string) (string, error) {
	if d.g.Chroot {
		return "", fmt.Errorf("queue_directory changed from %s to %s: not possible inside the chroot (-c); restart qmqpd", d.queueConf, value)
	}
	dir := value
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(d.startDir, dir)
	}
	d.syncer = nil
	return dir, nil
}

func listenerName(l net.Listener) string {
	if a, ok := l.Addr().(*net.UnixAddr); ok {
		return "unix:" + a.Name
	}
	return l.Addr().String()
}

// listeners opens the --listen addresses and the sockets systemd passed.
func (d *daemon) listeners() ([]net.Listener, error) {
	var out []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range out {
			l.Close()
		}
		return nil, err
	}
	if n := d.env.Getenv("LISTEN_FDS"); n != "" {
		count, err := strconv.Atoi(n)
		pid := d.env.Getenv("LISTEN_PID")
		if err != nil || count < 1 {
			return fail(fmt.Errorf("bad socket activation environment: LISTEN_FDS=%s", n))
		}
		if pid != "" && pid != strconv.Itoa(os.Getpid()) {
			// As sd_listen_fds(3): the sockets were meant for another
			// process (LISTEN_PID names it); take none of them.
			count = 0
		}
		for fd := 3; fd < 3+count; fd++ {
			f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
			l, err := net.FileListener(f)
			f.Close()
			if err != nil {
				return fail(fmt.Errorf("socket activation: descriptor %d: %v", fd, err))
			}
			out = append(out, inheritKeepAlive(l))
		}
		os.Unsetenv("LISTEN_FDS")
		os.Unsetenv("LISTEN_PID")
		os.Unsetenv("LISTEN_FDNAMES")
	}
	for _, a := range d.g.Listen {
		network, addr := ListenAddress(a)
		if network == "unix" {
			// A stale socket from an earlier run would make bind fail.
			if fi, err := os.Lstat(addr); err == nil && fi.Mode()&os.ModeSocket != 0 {
				os.Remove(addr)
			}
		}
		// TCP keepalive as in Postfix: on, with the kernel's timers; and
		// deferred accept (see keepalive.go).
		lc := net.ListenConfig{KeepAlive: -1, Control: listenControl}
		l, err := lc.Listen(context.Background(), network, addr)
		if err != nil {
			return fail(fmt.Errorf("listen on %s: %v", a, err))
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("no listening sockets: give --listen ADDR, or run under master(8) or systemd socket activation")
	}
	return out, nil
}

// ListenAddress turns a --listen value into a network and address:
// "unix:/path", "host:port", "[v6]:port", ":port" or a bare port.
func ListenAddress(a string) (network, addr string) {
	if p, ok := strings.CutPrefix(a, "unix:"); ok {
		return "unix", p
	}
	if _, err := strconv.Atoi(a); err == nil {
		return "tcp", ":" + a
	}
	return "tcp", a
}

// writeAtomic writes data to path through a temporary file and a rename.
func writeAtomic(path, data string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// isatty reports whether f is a terminal.
func isatty(f *os.File) bool {
	if f == nil {
		return false
	}
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// Command runs qmqpd as the process's main function: it does not return.
func Command() {
	os.Exit(Main(OSEnv()))
}

// loadBeforeChroot reads what the process needs from outside the queue
// directory before it chroots there: the local time zone (for log lines
// and Received: headers), which Go loads lazily.
func loadBeforeChroot() {
	_, _ = time.Now().Zone()
}

// debugProcess is -D: run $debugger_command (which may name
// $process_id) through the shell, as Postfix's debug_process does, before
// the daemon goes on.
func (d *daemon) debugProcess() error {
	command, err := d.cfg.Get("debugger_command")
	if err != nil {
		return err
	}
	if strings.TrimSpace(command) == "" {
		return errors.New("no debugger_command variable set up")
	}
	d.log.Infof("running: %s", command)
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = d.env.Stdin, d.env.Stdout, d.env.Stderr
	_ = cmd.Run()
	return nil
}
