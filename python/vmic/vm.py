"""vmic.open(target): one guest, a dump or a live QEMU, and what its kernel
knows. A VM owns a vmic_core (over the target's driver) and a vmic_os."""
import ctypes
import threading
from typing import TYPE_CHECKING, Callable, Iterator, List, Optional

from . import _structs as S
from ._lib import lib
from ._memory import buffer_view, read_bytes
from .errors import VmicError, check, error
from .objects import DriverInfo, Field, Finding, Kernel, LogRecord, Module, Socket, Symbol, Type
from .process import Process

if TYPE_CHECKING:  # imported when first used: a dump needs neither
    from .breakpoints import Breakpoints
    from .trace import Trace

_FORMATS = {"auto": 0, "raw": 1, "elf": 2, "lime": 3}


class VM:
    """An open guest. Use vmic.open(), as a context manager:

        with vmic.open("dump.elf") as vm:
            for p in vm.processes():
                print(p.pid, p.comm)

    A live target ("qemu:DIR", as `vmic boot` prints it) is paused while it
    is open, as the vmic command holds it (memory holds still, registers can
    be read), and put back as found (running) when closed; vm.trace() and
    vm.breakpoints().run() let it run meanwhile.
    """

    def __init__(self, target: str, *, format: str = "auto", profile: Optional[str] = None,
                 root: int = 0, paging: int = 0, shared_ok: bool = False):
        self.target = target
        self._core = self._os = None
        self._holder = None   # the thread that iterates a trace or runs breakpoints
        self._children = []   # tracers and breakpoint managers: closed before the os
        self._end = S.QemuEnd()
        live = S.QemuConfig(stay_paused=True, guard=True, shared_ok=shared_ok,
                            end=ctypes.pointer(self._end))
        if format not in _FORMATS:
            raise ValueError("format %r: one of %s" % (format, ", ".join(_FORMATS)))
        self._live = live  # the driver keeps a pointer to end until it closes
        opt = S.TargetOptions(format=_FORMATS[format], live=ctypes.pointer(live))
        drv, core, os_ = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.vmic_open_target(target.encode(), ctypes.byref(opt), ctypes.byref(drv)))
        check(lib.vmic_core_open(drv, None, ctypes.byref(core)),  # closes drv on failure
              "cannot start a session on %s" % target)
        self._core = core
        if paging:
            pg = lib.vmic_core_paging(core)
            pg.mode = 5 if paging == 5 else 4
            lib.vmic_core_set_paging(core, ctypes.byref(pg))
        cfg = S.OsConfig(profile=profile.encode() if profile else None, root=root, paging=paging)
        s = lib.vmic_os_open(core, ctypes.byref(cfg), ctypes.byref(os_))
        if s:
            e = error(s, "no Linux kernel found in %s" % target)
            self.close()
            raise e
        self._os = os_
        self._kctx = lib.vmic_os_kernel_ctx(os_)

    # ---- life ------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the guest: a live one is detached and put back as found."""
        while self._children:
            self._children.pop().close()
        if self._os:
            lib.vmic_os_close(self._os)
            self._os = None
        if self._core:
            lib.vmic_core_close(self._core)
            self._core = None

    def __enter__(self) -> "VM":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass  # at interpreter exit the library may be gone already

    def _need(self):
        if not self._os:
            raise ValueError("the VM is closed")
        if self._holder is not None and self._holder == threading.get_ident():
            raise RuntimeError("the VM is in a trace or breakpoint session: use it from a "
                               "breakpoint callback, or after the session")
        return self._os

    def _need_core(self):
        self._need()
        return self._core

    # ---- what the target and the kernel are -----------------------------------------

    @property
    def info(self) -> DriverInfo:
        """The driver's description of the target (driver, source, memory)."""
        self._need()
        return DriverInfo.from_c(lib.vmic_core_info(self._core).contents)

    @property
    def kernel(self) -> Kernel:
        """What was found of the kernel: image, KASLR slide, paging, root."""
        return Kernel.from_c(lib.vmic_os_kernel(self._need()).contents)

    @property
    def banner(self) -> str:
        """linux_banner, as /proc/version says it (no newline)."""
        return self.kernel.banner

    # ---- walks -------------------------------------------------------------------------

    def _walk(self, cfn, fntype, convert: Callable, *args, what: str) -> list:
        """Runs a vmic walk (int fn(void *arg, const T *item)) into a list.

        convert makes each item a Python object while the C struct is valid.
        An exception in it stops the walk (the callback returns non-zero)
        and is raised here; a walk that vmic cuts short raises its error
        with the items read before it as .partial."""
        out: list = []
        failed: list = []

        def each(_arg, *item):  # (item) or (text, len) for the environment
            try:
                out.append(convert(*item))
                return 0
            except BaseException as e:  # KeyboardInterrupt too: it must reach the caller
                failed.append(e)
                return 1

        cb = fntype(each)  # referenced until the walk returns
        s = cfn(self._need(), *args, cb, None)
        if failed:
            raise failed[0]
        if s:
            e = error(s, what)
            e.partial = out
            raise e
        return out

    def processes(self) -> List[Process]:
        """Every process (thread-group leader, pid 0 included), task-list order."""
        return self._walk(lib.vmic_os_processes, S.PROCESS_FN, lambda p: Process._copy(self, p),
                          what="process list")

    def process(self, pid: int) -> Process:
        """The process with that pid (NotFound if none)."""
        c = S.Process()
        check(lib.vmic_os_process_find(self._need(), pid, ctypes.byref(c)))
        return Process(self, c)

    def modules(self) -> List[Module]:
        """The loaded modules, as /proc/modules lists them."""
        return self._walk(lib.vmic_os_modules, S.MODULE_FN, lambda m: Module.from_c(m.contents),
                          what="module list")

    def sockets(self) -> List[Socket]:
        """Every socket in every process's fd table, all network namespaces
        (vmic netstat): a socket open in several is listed for each; then the
        TCP, UDP and UNIX sockets of the kernel's tables no process holds (pid 0,
        fd -1: TIME_WAIT, orphans, in flight)."""
        return self._walk(lib.vmic_os_sockets, S.SOCKET_FN, lambda k: Socket.from_c(k.contents),
                          None, what="sockets")

    def dmesg(self) -> List[LogRecord]:
        """Every record still in the kernel's printk ring buffer, oldest first."""
        return self._walk(lib.vmic_os_dmesg, S.LOG_FN, lambda r: LogRecord.from_c(r.contents),
                          what="kernel log")

    def check(self) -> List[Finding]:
        """vmic check: what a rootkit changes, one Finding per anomaly; [] on
        a clean kernel. The checks, in order: the system-call table, tasks
        (pid IDR vs task and thread lists), modules (list vs sysfs), shared
        credentials, the IDT, the system-call entry, ops tables. Every check
        runs; when one cannot, the first such error is raised after the
        others, with every finding as .partial."""
        out: List[Finding] = []
        first: Optional[VmicError] = None
        walks = [(lib.vmic_os_check_syscall_table, S.SYSCALL_HOOK_FN, Finding.from_hook,
                  "syscall table")]
        walks += [(fn, S.CHECK_FN, Finding.from_c, what) for fn, what in (
            (lib.vmic_os_check_tasks, "tasks"), (lib.vmic_os_check_modules, "modules"),
            (lib.vmic_os_check_creds, "credentials"), (lib.vmic_os_check_idt, "IDT"),
            (lib.vmic_os_check_syscall_entry, "syscall entry"),
            (lib.vmic_os_check_ops, "ops tables"))]
        for cfn, fntype, convert, what in walks:
            try:
                out += self._walk(lambda os_, cb, arg, cfn=cfn: cfn(os_, cb, arg, None), fntype,
                                  lambda f, convert=convert: convert(f.contents), what=what)
            except VmicError as e:
                out += getattr(e, "partial", None) or []
                first = first or e
        if first:
            first.partial = out
            raise first
        return out

    # ---- symbols and types -----------------------------------------------------------------

    def symbol(self, name: str) -> int:
        """The address of a kernel symbol, or of a module's ("name" or
        "module:name"); NotFound if none."""
        addr = ctypes.c_uint64()
        check(lib.vmic_os_symbol(self._need(), name.encode(), ctypes.byref(addr)))
        return addr.value

    def symbol_at(self, addr: int) -> Symbol:
        """The symbol at or below addr in the kernel image, its per-CPU area
        or a module (offset = addr - symbol); NotFound elsewhere."""
        sym, off = S.Symbol(), ctypes.c_uint64()
        check(lib.vmic_os_symbol_at(self._need(), addr, ctypes.byref(sym), ctypes.byref(off)))
        return Symbol.from_c(sym, off.value)

    def symbols(self, modules: bool = True) -> Iterator[Symbol]:
        """Every symbol as /proc/kallsyms lists them: the kernel image's in
        address order, then (modules=True) the loaded modules'."""
        os_ = self._need()
        sym = S.Symbol()
        ref = ctypes.byref(sym)
        get, make = lib.vmic_os_symbol_get, Symbol.from_c
        for i in range(lib.vmic_os_symbol_count(os_)):
            st = get(os_, i, ref)
            if st:
                raise error(st, "kallsyms symbol %d" % i)
            yield make(sym)
        if not modules:
            return
        n = ctypes.c_size_t()
        check(lib.vmic_os_module_symbols(os_, ctypes.byref(n)), "module symbols")
        for i in range(n.value):
            check(lib.vmic_os_module_symbol_get(os_, i, ref), "module symbol %d" % i)
            yield make(sym)

    def btf(self, module: Optional[str] = None) -> bytes:
        """The kernel's BTF blob, or a loaded module's own (split BTF over the
        kernel's), byte for byte as the guest's /sys/kernel/btf serves it."""
        data, n = ctypes.c_void_p(), ctypes.c_size_t()
        check(lib.vmic_os_btf(self._need(), module.encode() if module else None,
                              ctypes.byref(data), ctypes.byref(n)),
              "BTF of %s" % (module or "the kernel"))
        return ctypes.string_at(data.value, n.value)

    def type_module(self, name: str) -> str:
        """The loaded module whose own BTF defines a struct, union, enum or
        typedef `name` (NotFound if none): then "MODULE:name" asks for it."""
        buf = ctypes.create_string_buffer(64)
        check(lib.vmic_os_type_module(self._need(), name.encode(), buf, len(buf)),
              "the module of type %s" % name)
        return buf.value.decode()

    def field(self, path: str) -> Field:
        """A member by path ("task_struct.mm", "mm_struct.mm_mt.ma_root";
        "minix:minix_sb_info.s_ninodes" in a loaded module's own types)."""
        f = S.Field()
        check(lib.vmic_os_field(self._need(), path.encode(), ctypes.byref(f)))
        return Field.from_c(path, f)

    def sizeof(self, name: str) -> int:
        """Size of a struct, union, enum or typedef by name."""
        size = ctypes.c_uint64()
        check(lib.vmic_os_type_size(self._need(), name.encode(), ctypes.byref(size)))
        return size.value

    def type(self, name: str) -> Type:
        """A struct or union with every member's offset, size and C type."""
        kind, size = ctypes.c_int(), ctypes.c_uint64()
        members = self._walk(
            lambda os_, cb, arg: lib.vmic_os_type_members(os_, name.encode(), ctypes.byref(kind),
                                                          ctypes.byref(size), cb, arg),
            S.MEMBER_FN,
            lambda m: Field.from_c((m.contents.name or b"").decode(), m.contents.field,
                                   m.contents.depth),
            what="type %s" % name)
        return Type(name, (lib.vmic_type_kind_name(kind.value) or b"").decode(), size.value,
                    tuple(members))

    # ---- memory ---------------------------------------------------------------------------

    def _root(self, root: Optional[int]) -> int:
        return self._kctx if root is None else root

    def read_pa(self, pa: int, n: int) -> bytes:
        """n bytes of guest-physical memory at pa (one copy)."""
        core = self._need_core()
        return read_bytes(n, lambda a, k: check(lib.vmic_read_pa(core, pa, a, k),
                                                "reading %d bytes at pa 0x%x" % (k, pa)))

    def read_va(self, va: int, n: int, root: Optional[int] = None) -> bytes:
        """n bytes at va, translated with the page-table root `root` (a CR3
        value, e.g. p.root); the kernel's by default (one copy)."""
        core, ctx = self._need_core(), self._root(root)
        return read_bytes(n, lambda a, k: check(lib.vmic_read_va(core, ctx, va, a, k),
                                                "reading %d bytes at 0x%x" % (k, va)))

    def read_into(self, va: int, buf, root: Optional[int] = None) -> int:
        """Fills a writable buffer from va (no copy); returns its length."""
        arr = buffer_view(buf)
        if arr is None:
            return 0
        check(lib.vmic_read_va(self._need_core(), self._root(root), va, arr, len(arr)),
              "reading %d bytes at 0x%x" % (len(arr), va))
        return len(arr)

    def read_pa_into(self, pa: int, buf) -> int:
        """Fills a writable buffer from guest-physical pa (no copy)."""
        arr = buffer_view(buf)
        if arr is None:
            return 0
        check(lib.vmic_read_pa(self._need_core(), pa, arr, len(arr)),
              "reading %d bytes at pa 0x%x" % (len(arr), pa))
        return len(arr)

    def translate(self, va: int, root: Optional[int] = None) -> int:
        """The guest-physical address of va under root (the kernel's by default)."""
        pa = ctypes.c_uint64()
        check(lib.vmic_translate(self._need_core(), self._root(root), va,
                                 ctypes.byref(pa)))
        return pa.value

    # ---- live guests ----------------------------------------------------------------------

    def trace(self, **filters) -> "Trace":
        """System calls, forks, execs and exits of a live guest as they
        happen: an iterator of events (vmic.trace). Filters: pid, follow,
        comm, syscalls ("openat,execve" or a list), no_syscalls,
        no_processes, string_max, buffer_max, duration (seconds)."""
        from .trace import Trace
        return Trace(self, **filters)

    def breakpoints(self, tap: str = "auto") -> "Breakpoints":
        """A breakpoint manager with Python callbacks (vmic.breakpoints).
        tap: how breakpoints are made, "auto" (what the driver allows),
        "plugin" (QEMU with vmic's plugin: hits carry no registers),
        "debugreg", "breakpoint" (INT3 in shadow pages) or "memory"."""
        from .breakpoints import Breakpoints
        return Breakpoints(self, tap)

    def resume(self) -> None:
        """Lets a live guest run (it stays attached)."""
        check(lib.vmic_resume(self._need_core()))

    def pause(self) -> None:
        """Pauses a live guest."""
        check(lib.vmic_pause(self._need_core()))


def open(target: str, **options) -> VM:  # noqa: A001 - vmic.open, as the issue names it
    """Opens a TARGET: a dump's path (raw, ELF core, LiME) or "qemu:DIR".
    Options: format ("auto", "raw", "elf", "lime"), profile (an ISF file),
    root (the kernel's CR3), paging (4 or 5), shared_ok (a live guest whose
    gdbstub someone holds: read through QMP alone)."""
    return VM(target, **options)


__all__ = ["VM", "open", "VmicError"]
