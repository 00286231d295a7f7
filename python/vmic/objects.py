"""What the guest's kernel knows, as plain Python values: one dataclass per
vmic struct the package returns, made from the C struct by from_c (strings
decoded, addresses as ints), so nothing here points into libvmic's memory."""
import ipaddress
from dataclasses import dataclass
from typing import Optional, Tuple

from . import _structs as S
from ._lib import lib


def _s(b: Optional[bytes]) -> str:
    return b.decode(errors="replace") if b else ""


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~1 us, and there are 94k
class Symbol:
    """A kernel or module symbol; offset is how far a looked-up address lies
    past it (vm.symbol_at), 0 elsewhere."""
    name: str
    addr: int
    type: str
    module: Optional[str] = None
    offset: int = 0

    def __repr__(self) -> str:
        return "<Symbol %s%s 0x%x %s%s>" % (self.name, "+0x%x" % self.offset if self.offset else "",
                                          self.addr, self.type,
                                          " [%s]" % self.module if self.module else "")

    @classmethod
    def from_c(cls, s: S.Symbol, offset: int = 0) -> "Symbol":
        mod = s.module
        return cls(s.name.decode("utf-8", "replace"), s.addr, chr(s.type[0]),
                   mod.decode("utf-8", "replace") if mod else None, offset)


def _kind(k: int) -> str:
    return _s(lib.vmic_type_kind_name(k))


@dataclass(frozen=True, slots=True)
class Field:
    """A struct member's place: byte offset from the outermost struct (for a
    bitfield the byte of its first bit), bits, size, kind and C type."""
    name: str
    offset: int
    bit_offset: int
    bit_size: int
    size: int
    kind: str
    count: int
    type_name: str
    depth: int = 0

    @classmethod
    def from_c(cls, name: str, f: S.Field, depth: int = 0) -> "Field":
        return cls(name, f.offset, f.bit_offset, f.bit_size, f.size, _kind(f.kind), f.count,
                   _s(f.type_name), depth)


@dataclass(frozen=True, slots=True)
class Type:
    """A struct or union from the kernel's BTF (or the profile): its members
    in order, anonymous structs and unions listed (name "") before their
    members, one depth deeper. t["comm"] is the member of that name."""
    name: str
    kind: str
    size: int
    members: Tuple[Field, ...]

    def __getitem__(self, name: str) -> Field:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError("%s has no member %r" % (self.name, name))

    def offsetof(self, name: str) -> int:
        return self[name].offset


@dataclass(frozen=True, slots=True)
class Module:
    """A loaded kernel module, as /proc/modules shows it, with its memory."""
    name: str
    base: int
    size: int
    state: int
    address: int                     # the struct module
    ranges: Tuple[Tuple[int, int], ...]  # (base, size) of each piece of its memory
    refcount: int                    # /proc/modules's third column (-1: none kept)

    @classmethod
    def from_c(cls, m: S.Module) -> "Module":
        rs = tuple((r.base, r.size) for r in m.ranges[:min(m.nranges, S.MODULE_MAX_RANGES)])
        return cls(_s(m.name), m.base, m.size, m.state, m.module, rs, m.refcount)


@dataclass(frozen=True, slots=True)
class Region:
    """One memory region (VMA) of a process, as a line of /proc/PID/maps."""
    start: int
    end: int
    perms: str           # "r-xp" as /proc/PID/maps
    offset: int
    dev_major: int
    dev_minor: int
    inode: int
    path: str
    path_truncated: bool
    vma: int

    @classmethod
    def from_c(cls, r: S.Region) -> "Region":
        a = r.access
        perms = ("r" if a & 1 else "-") + ("w" if a & 2 else "-") + ("x" if a & 4 else "-") + \
            ("s" if r.shared else "p")
        return cls(r.start, r.end, perms, r.offset, r.dev_major, r.dev_minor, r.inode,
                   _s(r.path), r.path_truncated, r.vma)

    def maps_line(self) -> str:
        """The region as /proc/PID/maps prints it (one space before the path)."""
        return "%08x-%08x %s %08x %02x:%02x %d %s" % (
            self.start, self.end, self.perms, self.offset, self.dev_major, self.dev_minor,
            self.inode, self.path)


@dataclass(frozen=True, slots=True)
class OpenFile:
    """An open file descriptor: path as the /proc/PID/fd/N link says it."""
    fd: int
    path: str
    flags: int
    pos: int
    inode: int
    file: int            # the struct file
    path_truncated: bool

    @classmethod
    def from_c(cls, f: S.OpenFile) -> "OpenFile":
        return cls(f.fd, _s(f.path), f.flags, f.pos, f.inode, f.file, f.path_truncated)


_FAMILIES = {1: "unix", 2: "inet", 10: "inet6"}
_TYPES = {1: "stream", 2: "dgram", 3: "raw", 5: "seqpacket"}
# The TCP states /proc/net/tcp numbers (UDP shares them: 7 for unconnected).
_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
           6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
           11: "CLOSING"}


def _addr(family: int, raw) -> str:
    b = bytes(raw)
    if family == 2:
        return str(ipaddress.IPv4Address(b[:4]))
    if family == 10:
        return str(ipaddress.IPv6Address(b))
    return ""


@dataclass(frozen=True, slots=True)
class Socket:
    """A socket in a process's fd table, or (pid 0, fd -1) one in the
    kernel's TCP and UDP tables that none holds (vmic netstat's row): family
    ("inet", "inet6", "unix"), type ("stream", "dgram"), the TCP state name,
    addresses as text and ports (inet), path (unix: '@' for abstract)."""
    pid: int
    fd: int
    inode: int
    netns: int
    family: str
    type: str
    protocol: int
    state: str
    local_addr: str
    local_port: int
    remote_addr: str
    remote_port: int
    path: str
    partial: bool
    file: int            # the struct file
    sock: int            # the struct sock (0 if none)

    @classmethod
    def from_c(cls, k: S.Socket) -> "Socket":
        fam = _FAMILIES.get(k.family, str(k.family))
        return cls(k.pid, k.fd, k.inode, k.netns, fam, _TYPES.get(k.type, str(k.type)),
                   k.protocol, _STATES.get(k.state, str(k.state)) if k.family != 1 else "",
                   _addr(k.family, k.local_addr), k.local_port, _addr(k.family, k.remote_addr),
                   k.remote_port, _s(k.path), k.partial, k.file, k.sock)


@dataclass(frozen=True, slots=True)
class Mount:
    """A mount of a mount namespace, as a line of /proc/PID/mountinfo."""
    id: int
    parent_id: int
    dev_major: int
    dev_minor: int
    root: str
    point: str
    options: str
    propagation: str
    fstype: str
    source: str
    super_options: str
    visible: bool        # under the process's root: its mountinfo shows it
    partial: bool
    mount: int           # the struct mount

    @classmethod
    def from_c(cls, m: S.Mount) -> "Mount":
        return cls(m.id, m.parent_id, m.dev_major, m.dev_minor, _s(m.root), _s(m.point),
                   _s(m.options), _s(m.propagation), _s(m.fstype), _s(m.source),
                   _s(m.super_options), m.visible, m.partial, m.mount)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One record of the kernel's printk ring buffer (text may hold newlines)."""
    seq: int
    ts_nsec: int
    level: int
    facility: int
    caller_id: int
    text: str

    @classmethod
    def from_c(cls, r: S.LogRecord) -> "LogRecord":
        import ctypes
        text = ctypes.string_at(r.text, r.len).decode(errors="replace") if r.len else ""
        return cls(r.seq, r.ts_nsec, r.level, r.facility, r.caller_id, text)


# vmic_check_kind, by the names `vmic check` gives its rows.
_CHECK_KINDS = {1: "hidden-task", 2: "hidden-module", 3: "shared-cred", 4: "idt",
                5: "syscall-entry", 6: "ops"}


@dataclass(frozen=True, slots=True)
class Finding:
    """One anomaly of vm.check(), a row of `vmic check`: which check found it
    ("syscall-table", "hidden-task", "hidden-module", "shared-cred", "idt",
    "syscall-entry", "ops"); nr (the system call, pid, module position or
    IDT vector; None where there is none); name; addr (where the pointer
    points, or the task, module or cred); the module whose memory holds addr
    ("" for none); and what is wrong, in words."""
    check: str
    nr: Optional[int]
    name: str
    addr: int
    module: str
    detail: str

    @classmethod
    def from_hook(cls, h: S.SyscallHook) -> "Finding":
        return cls("syscall-table", h.nr, _s(h.name), h.handler, _s(h.module),
                   "a sys_call_table entry outside the kernel's text")

    @classmethod
    def from_c(cls, f: S.CheckFinding) -> "Finding":
        return cls(_CHECK_KINDS.get(f.kind, str(f.kind)), f.nr if f.nr >= 0 else None,
                   _s(f.name), f.addr, _s(f.module), _s(f.detail))


@dataclass(frozen=True, slots=True)
class Kernel:
    """What was found of the kernel (vmic_os_kernel_t), for vm.kernel."""
    banner: str
    release: str
    text: int
    end: int
    slide: int
    root: int
    root_source: str
    paging: int
    paging_source: str
    pti: bool
    symbols: str
    types: str
    nsymbols: int
    page_offset_base: int
    degraded: str

    @classmethod
    def from_c(cls, k: S.OsKernel) -> "Kernel":
        return cls(_s(k.banner), _s(k.release), k.text, k.end, k.slide, k.root,
                   _s(k.root_source), k.paging, _s(k.paging_source), k.pti, _s(k.symbols),
                   _s(k.types), k.nsymbols, k.page_offset_base, _s(k.degraded))


@dataclass(frozen=True, slots=True)
class DriverInfo:
    """The target as its driver describes it (vmic_driver_info_t)."""
    driver: str
    source: str
    mem_size: int
    vcpu_count: int
    plugin: str = ""
    caps: int = 0

    @classmethod
    def from_c(cls, i: S.DriverInfo) -> "DriverInfo":
        return cls(_s(i.driver), _s(i.source), i.mem_size, i.vcpu_count, _s(i.plugin), i.caps)
