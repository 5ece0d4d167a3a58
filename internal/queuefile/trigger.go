package queuefile

import (
	"fmt"
	"github.com/qmqpd-go/qmqpd/internal/syserr"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// TriggerWakeup is the request byte a queue file writer sends to the queue
// manager after a new message became ready (Postfix's TRIGGER_REQ_WAKEUP).
const TriggerWakeup = 'W'

// DefaultTriggerTimeout bounds writing the trigger to a socket (Postfix's
// trigger_timeout is 10s, but Postfix never waits for it in the caller's
// path; neither do we: the connect and write are non-blocking in practice).
const DefaultTriggerTimeout = 100 * time.Millisecond

// WakeQmgr tells the queue manager that incoming/ has new mail by sending
// 'W' to $queueDir/public/qmgr, which may be a FIFO or a UNIX-domain stream
// socket (Debian's master.cf uses a socket). It never blocks for long: a FIFO
// is opened non-blocking (no reader = an error, not a wait). A failure only
// means qmgr finds the mail on its next scan; the error text is Postfix's
// warning text, e.g. "unable to look up public/qmgr: No such file or
// directory".
func WakeQmgr(queueDir string) error {
	return Trigger(queueDir, "public", "qmgr", []byte{TriggerWakeup}, DefaultTriggerTimeout)
}

// Trigger sends req to the service class/service (e.g. "public", "qmgr")
// below queueDir, detecting whether it is a FIFO or a socket.
func Trigger(queueDir, class, service string, req []byte, timeout time.Duration) error {
	rel := class + "/" + service
	path := filepath.Join(queueDir, class, service)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("unable to look up %s: %s", rel, syserr.Text(err))
	}
	switch {
	case fi.Mode()&fs.ModeNamedPipe != 0:
		return fifoTrigger(path, rel, req)
	case fi.Mode()&fs.ModeSocket != 0:
		return socketTrigger(path, rel, req, timeout)
	default:
		return fmt.Errorf("%s is not a socket or a fifo", rel)
	}
}

func fifoTrigger(path, rel string, req []byte) error {
	fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fifo_trigger: open %s: %s", rel, syserr.Text(err))
	}
	defer syscall.Close(fd)
	if _, err := syscall.Write(fd, req); err != nil {
		return fmt.Errorf("fifo_trigger: write %s: %s", rel, syserr.Text(err))
	}
	return nil
}

func socketTrigger(path, rel string, req []byte, timeout time.Duration) error {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return fmt.Errorf("unix_trigger: connect to %s: %s", rel, syserr.Text(err))
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(req); err != nil {
		return fmt.Errorf("unix_trigger: write to %s: %s", rel, syserr.Text(err))
	}
	return nil
}
