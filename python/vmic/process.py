"""A guest process (or thread): vmic_process_t with the calls that take one."""
import ctypes
from typing import TYPE_CHECKING, List

from . import _structs as S
from ._lib import lib
from ._memory import buffer_view, read_bytes
from .errors import check, error
from .objects import Mount, OpenFile, Region, Socket

if TYPE_CHECKING:
    from .vm import VM

CMDLINE_MAX = 4096


class Process:
    """One task of the guest's task list. For a process (vm.processes()) pid
    is its process id (the kernel's tgid); for a thread (p.threads()) tid is
    the thread's own id and pid its process's. Addresses are ints: task (the
    task_struct), mm, root (the page-table root of its kernel mode, as
    `vmic ps` shows it) and user_root (the one user mode runs on under PTI).
    """
    __slots__ = ("_vm", "_c", "pid", "tid", "ppid", "comm", "state", "uid", "gid", "euid",
                 "egid", "start_ns", "nthreads", "kernel_thread", "task", "mm", "root",
                 "user_root", "partial")

    def __init__(self, vm: "VM", c: S.Process):
        self._vm, self._c = vm, c
        self.pid, self.tid, self.ppid = c.tgid, c.pid, c.ppid
        self.comm = c.comm.decode(errors="replace")
        self.state = c.state.decode(errors="replace")
        self.uid, self.gid, self.euid, self.egid = c.uid, c.gid, c.euid, c.egid
        self.start_ns, self.nthreads = c.start_ns, c.nthreads
        self.kernel_thread, self.partial = c.kernel_thread, c.partial
        self.task, self.mm, self.root, self.user_root = c.task, c.mm, c.root, c.user_root

    @classmethod
    def _copy(cls, vm: "VM", ptr) -> "Process":
        """From the struct a walk passes (valid only during the callback)."""
        return cls(vm, S.Process.from_buffer_copy(ptr.contents))

    def __repr__(self) -> str:
        return "<Process pid=%d tid=%d %s>" % (self.pid, self.tid, self.comm)

    # ---- what the kernel keeps of it --------------------------------------------

    def threads(self) -> List["Process"]:
        """Every thread of the process, the leader included (tid = its id)."""
        vm = self._vm
        return vm._walk(lib.vmic_os_threads, S.PROCESS_FN, lambda p: Process._copy(vm, p),
                        ctypes.byref(self._c), what="threads of %d" % self.pid)

    def maps(self) -> List[Region]:
        """Its memory regions in address order, as /proc/PID/maps (none for a
        kernel thread)."""
        return self._vm._walk(lib.vmic_os_regions, S.REGION_FN,
                              lambda r: Region.from_c(r.contents), ctypes.byref(self._c),
                              what="memory regions of %d" % self.pid)

    def files(self) -> List[OpenFile]:
        """Its open file descriptors, in fd order, as /proc/PID/fd."""
        return self._vm._walk(lib.vmic_os_files, S.FILE_FN,
                              lambda f: OpenFile.from_c(f.contents), ctypes.byref(self._c),
                              what="open files of %d" % self.pid)

    def sockets(self) -> List[Socket]:
        """The sockets its fd table holds (vmic netstat --pid)."""
        return self._vm._walk(lib.vmic_os_sockets, S.SOCKET_FN,
                              lambda k: Socket.from_c(k.contents), ctypes.byref(self._c),
                              what="sockets of %d" % self.pid)

    def mounts(self, all: bool = False) -> List[Mount]:
        """The mounts of its mount namespace as its /proc/PID/mountinfo lists
        them (all=True: also those outside its root)."""
        out = self._vm._walk(lib.vmic_os_mounts, S.MOUNT_FN, lambda m: Mount.from_c(m.contents),
                             ctypes.byref(self._c), what="mounts of %d" % self.pid)
        return out if all else [m for m in out if m.visible]

    def environ(self) -> List[str]:
        """Its environment from its own memory, as /proc/PID/environ holds it."""
        return self._vm._walk(lib.vmic_os_environ, S.ENV_FN,
                              lambda v, n: ctypes.string_at(v, n).decode(errors="replace"),
                              ctypes.byref(self._c), what="environment of %d" % self.pid)

    @property
    def argv(self) -> List[str]:
        """The command line from its own memory (mm->arg_start..arg_end), one
        string per argument; [] for a kernel thread."""
        raw = self.cmdline_bytes()
        return [a.decode(errors="replace") for a in raw.split(b"\0")] if raw else []

    @property
    def cmdline(self) -> str:
        """The arguments joined by spaces ("" for a kernel thread)."""
        return " ".join(self.argv)

    def cmdline_bytes(self) -> bytes:
        """The command line as /proc/PID/cmdline holds it, NULs between
        arguments (the last one's dropped); b"" for a kernel thread. Cut at
        4 KiB, as `vmic ps` does."""
        if self.kernel_thread:
            return b""
        buf = ctypes.create_string_buffer(CMDLINE_MAX)
        n = ctypes.c_size_t()
        lib.vmic_os_process_cmdline(self._vm._need(), ctypes.byref(self._c), buf, CMDLINE_MAX,
                                    ctypes.byref(n))  # cut (VMIC_E_RANGE) is still a command line
        return buf.raw[:n.value].rstrip(b"\0")

    # ---- its memory ------------------------------------------------------------------

    def read(self, va: int, n: int) -> bytes:
        """n bytes at va in the process's address space, as a new bytes
        object vmic writes into (one copy)."""
        def fill(addr, size):
            check(lib.vmic_os_process_read(self._vm._need(), ctypes.byref(self._c), va, addr, size),
                  "pid %d: reading %d bytes at 0x%x" % (self.pid, size, va))
        return read_bytes(n, fill)

    def read_into(self, va: int, buf) -> int:
        """Fills a writable buffer (bytearray, memoryview, mmap, array) from
        va with no copy of Python's; returns the bytes read (len(buf))."""
        arr = buffer_view(buf)
        if arr is None:
            return 0
        n = len(arr)
        s = lib.vmic_os_process_read(self._vm._need(), ctypes.byref(self._c), va, arr, n)
        if s:
            raise error(s, "pid %d: reading %d bytes at 0x%x" % (self.pid, n, va))
        return n

    def root_ctx(self) -> int:
        """The page-table root its addresses translate with (for
        vm.read_va(..., root=) and vm.translate(..., root=))."""
        ctx = ctypes.c_uint64()
        check(lib.vmic_os_process_ctx(self._vm._need(), ctypes.byref(self._c), ctypes.byref(ctx)),
              "pid %d" % self.pid)
        return ctx.value
