"""vmic for Python: virtual machine introspection of Linux guests, over
libvmic (ctypes; nothing re-implemented).

    import vmic
    with vmic.open("dump.elf") as vm:          # or "qemu:DIR", a live guest
        print(vm.banner)
        for p in vm.processes():
            print(p.pid, p.comm, len(p.files()), len(p.maps()))

See python/README.md.
"""
from ._lib import path as library_path
from .errors import (Busy, FormatError, Interrupted, InvalidArgument, IOFailure, NotFound,
                     RangeError, TranslationError, Unmapped, Unsupported, VmicError)
from .objects import (DriverInfo, Field, Finding, Kernel, LogRecord, Module, Mount, OpenFile,
                      Region, Socket, Symbol, Type)
from .process import Process
from .vm import VM, open
from . import trace  # vmic.trace.Syscall, ...: the module, beside vm.trace()
from .trace import Arg, Exec, Exit, Fork, Syscall, TaskRef, Trace, TraceEvent
from .breakpoints import Breakpoint, Breakpoints, Hit

__version__ = "0.1.0"


def library_version() -> str:
    """The version of the libvmic that was loaded (library_path says which)."""
    from ._lib import lib
    return lib.vmic_version().decode()


__all__ = ["open", "VM", "Process", "Symbol", "Field", "Type", "Module", "Region", "OpenFile",
           "Socket", "Mount", "Finding",
           "LogRecord", "Kernel", "DriverInfo", "VmicError", "InvalidArgument", "IOFailure",
           "FormatError", "Unmapped", "TranslationError", "Unsupported", "NotFound",
           "RangeError", "Busy", "Interrupted", "library_path", "library_version", "Trace",
           "TraceEvent", "Syscall", "Fork", "Exec", "Exit", "Arg", "TaskRef", "Breakpoints",
           "Breakpoint", "Hit", "trace"]
