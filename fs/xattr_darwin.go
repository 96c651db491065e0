package fs

import "syscall"

// errNoAttr is "no such attribute".
const errNoAttr = syscall.ENOATTR
