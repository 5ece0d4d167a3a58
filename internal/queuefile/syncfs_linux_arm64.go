package queuefile

import "syscall"

// sysSyncfs is syncfs(2)'s number.
const sysSyncfs = syscall.SYS_SYNCFS

// oTmpfile is O_TMPFILE (__O_TMPFILE | O_DIRECTORY).
const oTmpfile = 0x404000
