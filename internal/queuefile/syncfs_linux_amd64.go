package queuefile

// sysSyncfs is syncfs(2)'s number (the syscall package has no name for it
// on amd64).
const sysSyncfs = 306

// oTmpfile is O_TMPFILE (__O_TMPFILE | O_DIRECTORY).
const oTmpfile = 0x410000
