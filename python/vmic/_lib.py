"""Finding libvmic.so and declaring the C functions the package calls.

Where the library comes from, first found wins:

1. $VMIC_LIBRARY: a path to libvmic.so (any build, any prefix);
2. the source tree this package sits in, when it is run from there
   (python/vmic/ -> ../../build/release/libvmic.so): the in-tree build;
   for a copy pip installed, the build of the tree it was installed from
   (vmic/_built_from.py, written by python/build_backend.py), if it is there;
3. the installed library: ctypes.util.find_library("vmic") (ldconfig's cache,
   so /usr/lib and /usr/local/lib after `cmake --install` and ldconfig),
   then libvmic.so.0 under the usual install prefixes.
"""
import ctypes
import ctypes.util
import os
from ctypes import POINTER, c_bool, c_char_p, c_int, c_int32, c_size_t, c_uint32
from ctypes import c_uint64, c_void_p
from pathlib import Path

from . import _structs as S

_PREFIXES = ("/usr/local/lib", "/usr/local/lib/x86_64-linux-gnu", "/usr/local/lib64",
             "/usr/lib/x86_64-linux-gnu", "/usr/lib")


def candidates():
    """Where the library is looked for, in order (for the error message too)."""
    out = []
    env = os.environ.get("VMIC_LIBRARY")
    if env:
        return [env]  # the user's choice: nothing else is tried behind it
    trees = [Path(__file__).resolve().parents[2]]
    try:
        from ._built_from import SOURCE_TREE
        trees.append(Path(SOURCE_TREE))
    except ImportError:
        pass  # run from the source tree itself
    out += [str(t / "build" / "release" / "libvmic.so") for t in trees]
    found = ctypes.util.find_library("vmic")
    if found:
        out.append(found)
    out += [os.path.join(p, "libvmic.so.0") for p in _PREFIXES]
    return out


def _load():
    tried = []
    for path in candidates():
        if os.path.sep in path and not os.path.exists(path):
            tried.append(path + " (absent)")
            continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("vmic: libvmic.so not found; set VMIC_LIBRARY to its path. Tried: " +
                      "; ".join(tried))


lib, path = _load()

vp = c_void_p
status = c_int
u64 = c_uint64
P = POINTER

# name: (restype, argtypes). Handles (vmic_core *, vmic_os *, ...) are void
# pointers; vmic_va_t, vmic_pa_t and vmic_ctx_t are passed as uint64_t.
_PROTOS = {
    "vmic_version": (c_char_p, []),
    "vmic_status_name": (c_char_p, [c_int]),
    "vmic_errmsg": (c_char_p, []),
    "vmic_clear_error": (None, []),
    # drivers and the core
    "vmic_open_target": (status, [c_char_p, P(S.TargetOptions), P(vp)]),
    "vmic_core_open": (status, [vp, vp, P(vp)]),
    "vmic_core_close": (None, [vp]),
    "vmic_core_info": (P(S.DriverInfo), [vp]),
    "vmic_core_paging": (S.Paging, [vp]),
    "vmic_core_set_paging": (None, [vp, P(S.Paging)]),
    "vmic_read_pa": (status, [vp, u64, vp, c_size_t]),
    "vmic_read_va": (status, [vp, u64, u64, vp, c_size_t]),
    "vmic_translate": (status, [vp, u64, u64, P(u64)]),
    "vmic_vcpu_count": (c_uint32, [vp]),
    "vmic_get_regs": (status, [vp, c_uint32, P(S.Regs)]),
    "vmic_pause": (status, [vp]),
    "vmic_resume": (status, [vp]),
    "vmic_core_take_signals": (None, [vp, c_bool]),
    # os
    "vmic_os_open": (status, [vp, P(S.OsConfig), P(vp)]),
    "vmic_os_close": (None, [vp]),
    "vmic_os_kernel": (P(S.OsKernel), [vp]),
    "vmic_os_kernel_ctx": (u64, [vp]),
    "vmic_os_symbol": (status, [vp, c_char_p, P(u64)]),
    "vmic_os_symbol_at": (status, [vp, u64, P(S.Symbol), P(u64)]),
    "vmic_os_symbol_count": (c_size_t, [vp]),
    "vmic_os_symbol_get": (status, [vp, c_size_t, P(S.Symbol)]),
    "vmic_os_module_symbols": (status, [vp, P(c_size_t)]),
    "vmic_os_module_symbol_get": (status, [vp, c_size_t, P(S.Symbol)]),
    "vmic_os_field": (status, [vp, c_char_p, P(S.Field)]),
    "vmic_os_type_size": (status, [vp, c_char_p, P(u64)]),
    "vmic_os_type_members": (status, [vp, c_char_p, P(c_int), P(u64), S.MEMBER_FN, vp]),
    "vmic_os_type_module": (status, [vp, c_char_p, c_char_p, c_size_t]),
    "vmic_os_btf": (status, [vp, c_char_p, P(vp), P(c_size_t)]),
    "vmic_type_kind_name": (c_char_p, [c_int]),
    "vmic_os_processes": (status, [vp, S.PROCESS_FN, vp]),
    "vmic_os_process_find": (status, [vp, c_int32, P(S.Process)]),
    "vmic_os_threads": (status, [vp, P(S.Process), S.PROCESS_FN, vp]),
    "vmic_os_process_ctx": (status, [vp, P(S.Process), P(u64)]),
    "vmic_os_process_read": (status, [vp, P(S.Process), u64, vp, c_size_t]),
    "vmic_os_process_cmdline": (status, [vp, P(S.Process), vp, c_size_t, P(c_size_t)]),
    "vmic_os_modules": (status, [vp, S.MODULE_FN, vp]),
    "vmic_os_regions": (status, [vp, P(S.Process), S.REGION_FN, vp]),
    "vmic_os_files": (status, [vp, P(S.Process), S.FILE_FN, vp]),
    "vmic_os_sockets": (status, [vp, P(S.Process), S.SOCKET_FN, vp]),
    "vmic_os_mounts": (status, [vp, P(S.Process), S.MOUNT_FN, vp]),
    "vmic_os_environ": (status, [vp, P(S.Process), S.ENV_FN, vp]),
    "vmic_os_dmesg": (status, [vp, S.LOG_FN, vp]),
    "vmic_os_check_syscall_table": (status, [vp, S.SYSCALL_HOOK_FN, vp, P(c_size_t)]),
    "vmic_os_check_tasks": (status, [vp, S.CHECK_FN, vp, P(c_size_t)]),
    "vmic_os_check_modules": (status, [vp, S.CHECK_FN, vp, P(c_size_t)]),
    "vmic_os_check_creds": (status, [vp, S.CHECK_FN, vp, P(c_size_t)]),
    "vmic_os_check_idt": (status, [vp, S.CHECK_FN, vp, P(c_size_t)]),
    "vmic_os_check_syscall_entry": (status, [vp, S.CHECK_FN, vp, P(c_size_t)]),
    "vmic_os_check_ops": (status, [vp, S.CHECK_FN, vp, P(c_size_t)]),
    # utils: taps and the breakpoint manager
    "vmic_tap_open": (status, [vp, P(S.TapOptions), P(vp)]),
    "vmic_tap_name": (c_char_p, [vp]),
    "vmic_bpm_open": (status, [vp, vp, P(vp)]),
    "vmic_bpm_close": (None, [vp]),
    "vmic_bpm_tap": (vp, [vp]),
    "vmic_bpm_insert": (status, [vp, P(S.Breakpoint)]),
    "vmic_bpm_remove": (status, [vp, P(S.Breakpoint)]),
    "vmic_bpm_list": (c_size_t, [vp, vp, c_size_t]),
    "vmic_bpm_run": (status, [vp, P(S.BpmHandler), c_uint32]),
    "vmic_bpm_stats": (None, [vp, P(S.BpmStats)]),
    # trace
    "vmic_tracer_open": (status, [vp, P(S.TraceOptions), P(vp)]),
    "vmic_tracer_close": (None, [vp]),
    "vmic_tracer_arm": (status, [vp]),
    "vmic_tracer_run": (status, [vp, S.TRACE_FN, vp]),
    "vmic_tracer_stats": (None, [vp, P(S.TraceStats)]),
    "vmic_trace_kind_name": (c_char_p, [c_int]),
    "vmic_trace_format": (c_size_t, [P(S.TraceEvent), c_char_p, c_size_t]),
}

for _name, (_res, _args) in _PROTOS.items():
    _fn = getattr(lib, _name)
    _fn.restype, _fn.argtypes = _res, _args

del _name, _res, _args, _fn
