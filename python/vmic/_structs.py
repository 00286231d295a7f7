"""The C structs of include/vmic/*.h as ctypes mirrors.

Only what the package reads or fills is mirrored, field for field, with the
headers' names. vmic's address types (vmic_va_t, vmic_pa_t, vmic_ctx_t) are
one-member structs of a uint64_t, laid out and passed exactly like one, so
they are c_uint64 here. Each mirror names its C type in _c_name_: the ABI
test (tests/python/test_abi.py) compares every mirror's size and field
offsets with what the C compiler says of the header, so a header change that
is not made here fails loudly instead of reading the wrong bytes.
"""
from ctypes import (CFUNCTYPE, POINTER, Structure, Union, c_bool, c_char, c_char_p, c_int,
                    c_int32, c_int64, c_size_t, c_uint8, c_uint16, c_uint32, c_uint64, c_void_p)

u64 = c_uint64
va_t = pa_t = ctx_t = c_uint64

COMM_LEN = 16
PATH_LEN = 512
MODULE_NAME_LEN = 56
MODULE_MAX_RANGES = 16
TRACE_TEXT = 320
TRACE_CMDLINE = 1024
SYSCALL_MAX_ARGS = 6


class _Mirror(Structure):
    _c_name_ = ""


# ---- arch.h ------------------------------------------------------------------------------

class Paging(_Mirror):
    _c_name_ = "vmic_paging_t"
    _fields_ = [("mode", c_int), ("maxphyaddr", c_uint8), ("nxe", c_bool),
                ("reserved", c_uint32 * 2)]


class Segment(_Mirror):
    _c_name_ = "vmic_amd64_segment_t"
    _fields_ = [("base", u64), ("limit", c_uint32), ("selector", c_uint16), ("attr", c_uint16)]


class DTable(_Mirror):
    _c_name_ = "vmic_amd64_dtable_t"
    _fields_ = [("base", u64), ("limit", c_uint16)]


_GPRS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11",
         "r12", "r13", "r14", "r15", "rip", "rflags"]


class Regs(_Mirror):
    _c_name_ = "vmic_amd64_regs_t"
    _fields_ = ([("valid", c_uint32)] + [(r, u64) for r in _GPRS] +
                [(s, Segment) for s in ("cs", "ds", "es", "fs", "gs", "ss", "tr", "ldtr")] +
                [("gdtr", DTable), ("idtr", DTable)] +
                [(r, u64) for r in ("cr0", "cr2", "cr3", "cr4", "cr8", "dr0", "dr1", "dr2",
                                    "dr3", "dr6", "dr7", "efer", "star", "lstar", "cstar",
                                    "sfmask", "kernel_gs_base", "sysenter_cs",
                                    "sysenter_esp", "sysenter_eip", "pat", "tsc_aux")] +
                [("reserved", u64 * 8)])


# ---- driver.h, target.h, qemu.h -----------------------------------------------------------

class DriverInfo(_Mirror):
    _c_name_ = "vmic_driver_info_t"
    _fields_ = [("driver", c_char_p), ("source", c_char_p), ("caps", u64), ("mem_size", u64),
                ("max_pa", pa_t), ("vcpu_count", c_uint32), ("regions", c_void_p),
                ("nregions", c_size_t), ("flags", u64), ("plugin", c_char_p),
                ("reserved", u64 * 6)]


class QemuEnd(_Mirror):
    _c_name_ = "vmic_qemu_end_t"
    _fields_ = [("filled", c_bool), ("shared", c_bool), ("holder", c_char * 256),
                ("found_running", c_bool), ("qemu_gone", c_bool), ("gone_why", c_char * 256),
                ("status_known", c_bool), ("running", c_bool), ("status", c_char * 32),
                ("reserved", u64 * 4)]


class QemuConfig(_Mirror):
    _c_name_ = "vmic_qemu_config_t"
    _fields_ = [("gdb", c_char_p), ("qmp", c_char_p), ("mem", c_char_p),
                ("timeout_ms", c_uint32), ("stay_paused", c_bool), ("guard", c_bool),
                ("shared_ok", c_bool), ("end", POINTER(QemuEnd)), ("reserved", u64 * 4)]


class TargetOptions(_Mirror):
    _c_name_ = "vmic_target_options_t"
    _fields_ = [("format", c_int), ("live", POINTER(QemuConfig)), ("reserved", u64 * 4)]


# ---- event.h ---------------------------------------------------------------------------------

class _EvMemory(Structure):
    _fields_ = [("pa", pa_t), ("gfn", u64), ("va", va_t), ("va_valid", c_bool),
                ("access", c_uint8), ("size", c_uint8), ("value", u64)]


class _EvInterrupt(Structure):
    _fields_ = [("vector", c_uint8), ("type", c_int), ("insn_len", c_uint8),
                ("has_error_code", c_bool), ("error_code", c_uint32), ("pa", pa_t)]


class _EvBreakpoint(Structure):
    _fields_ = [("va", va_t), ("pa", pa_t), ("slot", c_uint8)]


class _EvDetail(Union):
    _fields_ = [("memory", _EvMemory), ("interrupt", _EvInterrupt), ("breakpoint", _EvBreakpoint),
                ("reserved_detail", u64 * 8)]


class Event(_Mirror):
    _c_name_ = "vmic_event_t"
    _anonymous_ = ("detail",)
    _fields_ = [("kind", c_int), ("vcpu", c_uint32), ("view", c_uint16), ("seq", u64),
                ("regs", Regs), ("detail", _EvDetail), ("flags", c_uint32),
                ("reserved32", c_uint32), ("capture", c_void_p), ("reserved", u64 * 2)]


# ---- os.h -------------------------------------------------------------------------------------

class OsConfig(_Mirror):
    _c_name_ = "vmic_os_config_t"
    _fields_ = [("profile", c_char_p), ("root", u64), ("paging", c_int),
                ("reserved", c_uint32 * 4)]


class OsKernel(_Mirror):
    _c_name_ = "vmic_os_kernel_t"
    _fields_ = [("text", va_t), ("end", va_t), ("text_pa", pa_t), ("slide", u64),
                ("root", pa_t), ("root_source", c_char_p), ("paging", c_int),
                ("paging_source", c_char_p), ("pti", c_bool), ("banner", c_char_p),
                ("release", c_char_p), ("symbols", c_char_p), ("types", c_char_p),
                ("nsymbols", c_size_t), ("kallsyms", va_t), ("btf", va_t), ("btf_size", u64),
                ("kernel_half", va_t), ("page_offset_base", va_t), ("vmalloc_base", va_t),
                ("vmemmap_base", va_t), ("modules_start", va_t), ("modules_end", va_t),
                ("layout_source", c_char_p), ("degraded", c_char_p)]


class Symbol(_Mirror):
    _c_name_ = "vmic_symbol_t"
    _fields_ = [("name", c_char_p), ("addr", va_t), ("type", c_char), ("module", c_char_p)]


class Field(_Mirror):
    _c_name_ = "vmic_field_t"
    _fields_ = [("offset", u64), ("bit_offset", u64), ("bit_size", c_uint32), ("size", u64),
                ("kind", c_int), ("count", u64), ("type_name", c_char * 96)]


class Member(_Mirror):
    _c_name_ = "vmic_member_t"
    _fields_ = [("name", c_char_p), ("depth", c_int), ("field", Field)]


class Process(_Mirror):
    _c_name_ = "vmic_process_t"
    _fields_ = [("task", va_t), ("pid", c_int32), ("tgid", c_int32), ("ppid", c_int32),
                ("comm", c_char * (COMM_LEN + 1)), ("uid", c_uint32), ("gid", c_uint32),
                ("euid", c_uint32), ("egid", c_uint32), ("state", c_char),
                ("state_raw", c_uint32), ("start_ns", u64), ("nthreads", c_uint32),
                ("kernel_thread", c_bool), ("mm", va_t), ("root", pa_t), ("user_root", pa_t),
                ("partial", c_bool), ("reserved", u64 * 2)]


class ModuleRange(_Mirror):
    _c_name_ = "vmic_module_range_t"
    _fields_ = [("base", va_t), ("size", u64)]


class Module(_Mirror):
    _c_name_ = "vmic_module_t"
    _fields_ = [("module", va_t), ("name", c_char * (MODULE_NAME_LEN + 1)), ("base", va_t),
                ("size", u64), ("state", c_int32), ("nranges", c_uint32),
                ("ranges", ModuleRange * MODULE_MAX_RANGES), ("refcount", c_int32),
                ("reserved32", c_uint32), ("reserved", u64 * 1)]


class Region(_Mirror):
    _c_name_ = "vmic_region_t"
    _fields_ = [("vma", va_t), ("start", va_t), ("end", va_t), ("access", c_uint8),
                ("shared", c_bool), ("offset", u64), ("dev_major", c_uint32),
                ("dev_minor", c_uint32), ("inode", u64), ("path", c_char * PATH_LEN),
                ("path_truncated", c_bool), ("reserved", u64 * 2)]


class OpenFile(_Mirror):
    _c_name_ = "vmic_open_file_t"
    _fields_ = [("fd", c_int32), ("file", va_t), ("flags", c_uint32), ("pos", u64),
                ("inode", u64), ("path", c_char * PATH_LEN), ("path_truncated", c_bool),
                ("reserved", u64 * 2)]


SOCK_PATH_LEN = 110


class Socket(_Mirror):
    _c_name_ = "vmic_socket_t"
    _fields_ = [("pid", c_int32), ("fd", c_int32), ("file", va_t), ("sock", va_t),
                ("inode", u64), ("netns", c_uint32), ("family", c_uint16), ("type", c_uint16),
                ("protocol", c_uint16), ("state", c_uint8), ("socket_state", c_uint8),
                ("local_addr", c_uint8 * 16), ("remote_addr", c_uint8 * 16),
                ("local_port", c_uint16), ("remote_port", c_uint16),
                ("path", c_char * SOCK_PATH_LEN), ("partial", c_bool), ("reserved", u64 * 4)]


class Mount(_Mirror):
    _c_name_ = "vmic_mount_t"
    _fields_ = [("id", c_int32), ("parent_id", c_int32), ("mount", va_t),
                ("dev_major", c_uint32), ("dev_minor", c_uint32), ("mnt_flags", c_uint32),
                ("sb_flags", c_uint32), ("root", c_char * PATH_LEN), ("point", c_char * PATH_LEN),
                ("fstype", c_char * 64), ("source", c_char * PATH_LEN), ("options", c_char * 128),
                ("super_options", c_char * 256), ("propagation", c_char * 64),
                ("visible", c_bool), ("partial", c_bool), ("reserved", u64 * 4)]


SYSCALL_NAME_LEN = 48


class SyscallHook(_Mirror):
    _c_name_ = "vmic_syscall_hook_t"
    _fields_ = [("nr", c_uint32), ("name", c_char * SYSCALL_NAME_LEN), ("handler", va_t),
                ("module", c_char * (MODULE_NAME_LEN + 1)), ("reserved", u64 * 2)]


class CheckFinding(_Mirror):
    _c_name_ = "vmic_check_finding_t"
    _fields_ = [("kind", c_int), ("nr", c_int64), ("name", c_char * 64), ("addr", va_t),
                ("module", c_char * (MODULE_NAME_LEN + 1)), ("detail", c_char * 192),
                ("reserved", u64 * 2)]


class LogRecord(_Mirror):
    _c_name_ = "vmic_log_record_t"
    _fields_ = [("seq", u64), ("ts_nsec", u64), ("level", c_uint8), ("facility", c_uint8),
                ("caller_id", c_uint32), ("text", c_void_p), ("len", c_size_t)]


# ---- utils.h: taps and the breakpoint manager -------------------------------------------------

class TapOptions(_Mirror):
    _c_name_ = "vmic_tap_options_t"
    _fields_ = [("kind", c_int), ("visible", c_bool), ("reserved", u64 * 4)]


class Breakpoint(_Mirror):
    _c_name_ = "vmic_breakpoint_t"
    _fields_ = [("va", va_t), ("root", pa_t), ("global_", c_bool), ("view", c_uint16),
                ("key", u64), ("tag", u64), ("reserved", u64 * 2)]


class BpState(_Mirror):
    _c_name_ = "vmic_bp_state_t"
    _fields_ = [("bp", Breakpoint), ("active", c_bool), ("pa", pa_t), ("tap_view", c_uint16),
                ("reserved", u64 * 2)]


class BpmStats(_Mirror):
    _c_name_ = "vmic_bpm_stats_t"
    _fields_ = [(n, u64) for n in ("hits", "passes", "reinjected", "reads_served",
                                   "writes_through", "table_writes", "page_ins", "page_outs",
                                   "activations", "deactivations", "activation_failures",
                                   "taps", "pages")] + [("reserved", u64 * 4)]


ON_HIT = CFUNCTYPE(c_int, c_void_p, POINTER(Event), POINTER(BpState), c_size_t, c_void_p,
                   c_void_p)
SHOULD_STOP = CFUNCTYPE(c_bool, c_void_p, c_void_p)
ON_TIMEOUT = CFUNCTYPE(None, c_void_p, c_void_p)


class BpmHandler(_Mirror):
    _c_name_ = "vmic_bpm_handler_t"
    _fields_ = [("on_hit", ON_HIT), ("on_page", c_void_p), ("on_event", c_void_p),
                ("should_stop", SHOULD_STOP), ("on_timeout", ON_TIMEOUT), ("arg", c_void_p),
                ("reserved", c_void_p * 4)]


# ---- trace.h ----------------------------------------------------------------------------------

class TraceTask(_Mirror):
    _c_name_ = "vmic_trace_task_t"
    _fields_ = [("task", va_t), ("pid", c_int32), ("tgid", c_int32),
                ("comm", c_char * (COMM_LEN + 1))]


class TraceValue(_Mirror):
    _c_name_ = "vmic_trace_value_t"
    _fields_ = [("name", c_char_p), ("type", c_char_p), ("raw", u64), ("kind", c_int),
                ("truncated", c_bool), ("hidden", c_bool), ("text", c_char * TRACE_TEXT)]


class _TraceSyscall(Structure):
    _fields_ = [("nr", c_uint32), ("sc", c_void_p), ("name", c_char_p), ("nargs", c_int),
                ("args", TraceValue * SYSCALL_MAX_ARGS), ("returned", c_bool),
                ("entry_seen", c_bool), ("ret", c_int64), ("ret_text", c_char * 96),
                ("error", c_char_p), ("duration_ns", u64)]


class _TraceFork(Structure):
    _fields_ = [("child", TraceTask), ("thread", c_bool), ("kernel", c_bool)]


class _TraceExec(Structure):
    _fields_ = [("old_comm", c_char * (COMM_LEN + 1)), ("filename", c_char * TRACE_TEXT),
                ("cmdline", c_char * TRACE_CMDLINE), ("cmdline_truncated", c_bool)]


class _TraceExit(Structure):
    _fields_ = [("code", c_int64), ("status", c_int), ("signal", c_int),
                ("core_dumped", c_bool), ("thread", c_bool)]


class TraceEvent(_Mirror):
    _c_name_ = "vmic_trace_event_t"
    _fields_ = [("kind", c_int), ("vcpu", c_uint32), ("seq", u64), ("time_ns", u64),
                ("task", TraceTask), ("syscall", _TraceSyscall), ("fork", _TraceFork),
                ("exec", _TraceExec), ("exit", _TraceExit)]


class TraceOptions(_Mirror):
    _c_name_ = "vmic_trace_options_t"
    _fields_ = [("no_syscalls", c_bool), ("no_processes", c_bool), ("pid", c_int32),
                ("follow", c_bool), ("comm", c_char_p), ("syscalls", c_char_p),
                ("string_max", c_uint32), ("buffer_max", c_uint32), ("duration_ms", c_uint32),
                ("tap", c_int), ("reserved", u64 * 4)]


class TraceStats(_Mirror):
    _c_name_ = "vmic_trace_stats_t"
    _fields_ = [(n, u64) for n in ("hits", "events", "filtered", "unmatched", "fork_returns",
                                   "dropped", "read_errors", "late_reads")] + [("reserved", u64 * 3)]


TRACE_FN = CFUNCTYPE(c_int, POINTER(TraceEvent), c_void_p)

# Walk callbacks of os.h: int fn(void *arg, const T *item).
PROCESS_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Process))
MODULE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Module))
REGION_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Region))
FILE_FN = CFUNCTYPE(c_int, c_void_p, POINTER(OpenFile))
SOCKET_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Socket))
MOUNT_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Mount))
ENV_FN = CFUNCTYPE(c_int, c_void_p, POINTER(c_char), c_size_t)
LOG_FN = CFUNCTYPE(c_int, c_void_p, POINTER(LogRecord))
SYSCALL_HOOK_FN = CFUNCTYPE(c_int, c_void_p, POINTER(SyscallHook))
CHECK_FN = CFUNCTYPE(c_int, c_void_p, POINTER(CheckFinding))
MEMBER_FN = CFUNCTYPE(c_int, c_void_p, POINTER(Member))


def mirrors():
    """Every mirrored struct (what the ABI test checks)."""
    return [c for c in globals().values()
            if isinstance(c, type) and issubclass(c, _Mirror) and c is not _Mirror]
