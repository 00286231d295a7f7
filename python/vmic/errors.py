"""vmic's failures as Python exceptions.

Every libvmic call that fails returns a vmic_status and leaves a message on
the calling thread (vmic_errmsg, <vmic/base.h>); check() turns both into an
exception raised on that thread, before anything else can overwrite the
message. The class says what kind of failure (one per status), the message
says what failed and where, as the vmic command prints it.
"""
from ._lib import lib


class VmicError(Exception):
    """A libvmic call failed. .status is the vmic_status (an int), .status_name
    its name as vmic_status_name says it ("I/O error", ...), str() vmic's
    message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.status_name = (lib.vmic_status_name(status) or b"?").decode()


class InvalidArgument(VmicError, ValueError):
    """VMIC_E_INVAL: a bad argument from the caller."""


class IOFailure(VmicError):
    """VMIC_E_IO: host I/O failed (open, mmap, a socket)."""


class FormatError(VmicError):
    """VMIC_E_FORMAT: a malformed file or guest structure (a walk cut short)."""


class Unmapped(VmicError):
    """VMIC_E_UNMAPPED: a physical address no guest memory backs."""


class TranslationError(VmicError):
    """VMIC_E_TRANSLATE: a virtual address that does not translate."""


class Unsupported(VmicError):
    """VMIC_E_UNSUPPORTED: not something this driver or guest can do."""


class NotFound(VmicError, LookupError):
    """VMIC_E_NOTFOUND: no such symbol, process, type or field."""


class RangeError(VmicError):
    """VMIC_E_RANGE: a length or index beyond a bound."""


class Busy(VmicError):
    """VMIC_E_BUSY: someone else holds it (a live guest's gdbstub)."""


class Interrupted(VmicError):
    """VMIC_E_INTERRUPTED: a session ended by a signal."""


# Indexed by vmic_status (base.h's order); statuses without a class of their
# own (NOMEM, TIMEOUT, INTERNAL, any later one) are VmicError.
_BY_STATUS = {1: InvalidArgument, 3: IOFailure, 4: FormatError, 5: Unmapped,
              6: TranslationError, 7: Unsupported, 8: NotFound, 9: RangeError, 11: Interrupted,
              12: Busy}


def error(status: int, context: str = "") -> VmicError:
    """The exception for a status just returned, with vmic's message."""
    msg = (lib.vmic_errmsg() or b"").decode(errors="replace")
    if not msg:
        msg = (lib.vmic_status_name(status) or b"error").decode()
    if context:
        msg = "%s: %s" % (context, msg)
    return _BY_STATUS.get(status, VmicError)(status, msg)


def check(status: int, context: str = "") -> None:
    """Raises the status's exception unless it is VMIC_OK (0)."""
    if status:
        raise error(status, context)
