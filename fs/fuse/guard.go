package fuse

import (
	"syscall"

	gofuse "github.com/hanwen/go-fuse/v2/fuse"
)

// guard answers EACCES to every request from a user who is neither the
// mounting user nor root, except reads when the owner opted in: with
// allow_other the kernel lets every local user through, and without this
// they would act with the owner's TileDB account. Requests on handles
// already open (flush, release, fsync) pass: only an allowed open makes
// one. The mode bits the mount shows say the same (see permMask), so the
// kernel's default_permissions refuses most of it before we are asked.
type guard struct {
	gofuse.RawFileSystem
	owner      uint32
	othersRead bool
}

func (g *guard) ok(h *gofuse.InHeader, write bool) bool {
	uid := h.Caller.Uid
	return uid == g.owner || uid == 0 || (!write && g.othersRead)
}

func (g *guard) Lookup(c <-chan struct{}, h *gofuse.InHeader, name string, out *gofuse.EntryOut) gofuse.Status {
	if !g.ok(h, false) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Lookup(c, h, name, out)
}

func (g *guard) GetAttr(c <-chan struct{}, in *gofuse.GetAttrIn, out *gofuse.AttrOut) gofuse.Status {
	if !g.ok(&in.InHeader, false) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.GetAttr(c, in, out)
}

func (g *guard) SetAttr(c <-chan struct{}, in *gofuse.SetAttrIn, out *gofuse.AttrOut) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.SetAttr(c, in, out)
}

func (g *guard) Mknod(c <-chan struct{}, in *gofuse.MknodIn, name string, out *gofuse.EntryOut) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Mknod(c, in, name, out)
}

func (g *guard) Mkdir(c <-chan struct{}, in *gofuse.MkdirIn, name string, out *gofuse.EntryOut) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Mkdir(c, in, name, out)
}

func (g *guard) Unlink(c <-chan struct{}, h *gofuse.InHeader, name string) gofuse.Status {
	if !g.ok(h, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Unlink(c, h, name)
}

func (g *guard) Rmdir(c <-chan struct{}, h *gofuse.InHeader, name string) gofuse.Status {
	if !g.ok(h, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Rmdir(c, h, name)
}

func (g *guard) Rename(c <-chan struct{}, in *gofuse.RenameIn, oldName, newName string) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Rename(c, in, oldName, newName)
}

func (g *guard) Link(c <-chan struct{}, in *gofuse.LinkIn, name string, out *gofuse.EntryOut) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Link(c, in, name, out)
}

func (g *guard) Symlink(c <-chan struct{}, h *gofuse.InHeader, target, name string, out *gofuse.EntryOut) gofuse.Status {
	if !g.ok(h, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Symlink(c, h, target, name, out)
}

func (g *guard) Readlink(c <-chan struct{}, h *gofuse.InHeader) ([]byte, gofuse.Status) {
	if !g.ok(h, false) {
		return nil, gofuse.EACCES
	}
	return g.RawFileSystem.Readlink(c, h)
}

func (g *guard) Access(c <-chan struct{}, in *gofuse.AccessIn) gofuse.Status {
	if !g.ok(&in.InHeader, in.Mask&unixWOK != 0) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Access(c, in)
}

func (g *guard) GetXAttr(c <-chan struct{}, h *gofuse.InHeader, attr string, dest []byte) (uint32, gofuse.Status) {
	if !g.ok(h, false) {
		return 0, gofuse.EACCES
	}
	return g.RawFileSystem.GetXAttr(c, h, attr, dest)
}

func (g *guard) ListXAttr(c <-chan struct{}, h *gofuse.InHeader, dest []byte) (uint32, gofuse.Status) {
	if !g.ok(h, false) {
		return 0, gofuse.EACCES
	}
	return g.RawFileSystem.ListXAttr(c, h, dest)
}

func (g *guard) SetXAttr(c <-chan struct{}, in *gofuse.SetXAttrIn, attr string, data []byte) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.SetXAttr(c, in, attr, data)
}

func (g *guard) RemoveXAttr(c <-chan struct{}, h *gofuse.InHeader, attr string) gofuse.Status {
	if !g.ok(h, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.RemoveXAttr(c, h, attr)
}

func (g *guard) Create(c <-chan struct{}, in *gofuse.CreateIn, name string, out *gofuse.CreateOut) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Create(c, in, name, out)
}

func (g *guard) Tmpfile(c <-chan struct{}, in *gofuse.CreateIn, out *gofuse.CreateOut) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Tmpfile(c, in, out)
}

func (g *guard) Open(c <-chan struct{}, in *gofuse.OpenIn, out *gofuse.OpenOut) gofuse.Status {
	write := in.Flags&syscall.O_ACCMODE != syscall.O_RDONLY || in.Flags&syscall.O_TRUNC != 0
	if !g.ok(&in.InHeader, write) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Open(c, in, out)
}

func (g *guard) Read(c <-chan struct{}, in *gofuse.ReadIn, buf []byte) (gofuse.ReadResult, gofuse.Status) {
	if !g.ok(&in.InHeader, false) {
		return nil, gofuse.EACCES
	}
	return g.RawFileSystem.Read(c, in, buf)
}

func (g *guard) Write(c <-chan struct{}, in *gofuse.WriteIn, data []byte) (uint32, gofuse.Status) {
	if !g.ok(&in.InHeader, true) {
		return 0, gofuse.EACCES
	}
	return g.RawFileSystem.Write(c, in, data)
}

func (g *guard) CopyFileRange(c <-chan struct{}, in *gofuse.CopyFileRangeIn) (uint32, gofuse.Status) {
	if !g.ok(&in.InHeader, true) {
		return 0, gofuse.EACCES
	}
	return g.RawFileSystem.CopyFileRange(c, in)
}

func (g *guard) Ioctl(c <-chan struct{}, in *gofuse.IoctlIn, inbuf []byte, out *gofuse.IoctlOut, outbuf []byte) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Ioctl(c, in, inbuf, out, outbuf)
}

func (g *guard) Fallocate(c <-chan struct{}, in *gofuse.FallocateIn) gofuse.Status {
	if !g.ok(&in.InHeader, true) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Fallocate(c, in)
}

func (g *guard) OpenDir(c <-chan struct{}, in *gofuse.OpenIn, out *gofuse.OpenOut) gofuse.Status {
	if !g.ok(&in.InHeader, false) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.OpenDir(c, in, out)
}

func (g *guard) ReadDir(c <-chan struct{}, in *gofuse.ReadIn, out *gofuse.DirEntryList) gofuse.Status {
	if !g.ok(&in.InHeader, false) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.ReadDir(c, in, out)
}

func (g *guard) ReadDirPlus(c <-chan struct{}, in *gofuse.ReadIn, out *gofuse.DirEntryList) gofuse.Status {
	if !g.ok(&in.InHeader, false) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.ReadDirPlus(c, in, out)
}

func (g *guard) StatFs(c <-chan struct{}, h *gofuse.InHeader, out *gofuse.StatfsOut) gofuse.Status {
	if !g.ok(h, false) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.StatFs(c, h, out)
}

func (g *guard) Statx(c <-chan struct{}, in *gofuse.StatxIn, out *gofuse.StatxOut) gofuse.Status {
	if !g.ok(&in.InHeader, false) {
		return gofuse.EACCES
	}
	return g.RawFileSystem.Statx(c, in, out)
}

// unixWOK is access(2)'s W_OK.
const unixWOK = 2
