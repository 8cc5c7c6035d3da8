"""Which files of a folder were written, as the kernel saw it: an inotify watch for IN_MODIFY on
the folder (the VFS reports every successful write(2), cgroupfs files included), read without
blocking. The VM test uses it to see which cgroup control file the agent wrote to kill a
function's cgroup (cgroup.kill, or the freeze-and-kill fallback's cgroup.freeze)."""

import ctypes
import ctypes.util
import os
import struct

from .waits import HarnessError

IN_MODIFY = 0x00000002
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; the name follows, NUL-padded

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


class WriteWatch:
    """Records the names of the files in `folder` that are written to, from now until close()."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise HarnessError("inotify_init1: %s" % os.strerror(ctypes.get_errno()))
        if _libc.inotify_add_watch(self.fd, self.folder.encode(), IN_MODIFY) < 0:
            error = os.strerror(ctypes.get_errno())
            os.close(self.fd)
            raise HarnessError("cannot watch %s for writes: %s" % (self.folder, error))
        self.written = []

    def poll(self):
        """Reads what was written since the last call; returns every name seen so far, in order."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return self.written
            offset = 0
            while offset + _EVENT.size <= len(data):
                _, mask, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0").decode()
                if mask & IN_MODIFY and name:
                    self.written.append(name)
                offset += _EVENT.size + length

    def close(self):
        self.poll()
        os.close(self.fd)
        return self.written
