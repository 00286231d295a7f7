"""Reading guest memory into Python objects: bytes made with one copy
(vmic writes straight into a new bytes object), or into a caller's buffer
with none."""
import ctypes
from ctypes import c_char, c_ssize_t, c_void_p, py_object

_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.restype, _new_bytes.argtypes = py_object, [c_void_p, c_ssize_t]
_bytes_ptr = ctypes.pythonapi.PyBytes_AsString
_bytes_ptr.restype, _bytes_ptr.argtypes = c_void_p, [py_object]


def read_bytes(n: int, fill) -> bytes:
    """A new bytes object of n bytes that fill(address, n) writes: the C API's
    way of making bytes in place (PyBytes_FromStringAndSize(NULL, n)), legal
    while nobody else holds the object. fill raises on failure."""
    if n < 0:
        raise ValueError("negative length %d" % n)
    if n == 0:
        return b""
    out = _new_bytes(None, n)
    fill(_bytes_ptr(out), n)
    return out


def buffer_view(buf):
    """A ctypes array over a writable buffer (bytearray, memoryview, mmap,
    array, numpy array), for vmic to read into in place; None if it is
    empty. Holding the array holds the buffer's export, so it cannot be
    resized or freed while vmic writes."""
    mv = memoryview(buf)
    if mv.readonly:
        raise TypeError("read_into needs a writable buffer, not %s" % type(buf).__name__)
    if not mv.contiguous:
        raise TypeError("read_into needs a contiguous buffer")
    n = mv.nbytes
    if n == 0:
        return None
    return (c_char * n).from_buffer(mv.cast("B"))
