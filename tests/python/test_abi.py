"""Every struct python/vmic/_structs.py mirrors, against the C compiler:
tests/python/abi_layout.c prints each struct's size and key field offsets
from include/vmic/*.h; ctypes must say the same, and every mirror must be
in that program (a mirror nobody checks is a silent ABI break)."""
import keyword
import subprocess

import pytest

from vmic import _structs as S


@pytest.fixture(scope="module")
def layout(request):
    prog = request.config.getoption("--abi-layout")
    if not prog:
        pytest.skip("no --abi-layout program")
    sizes, offsets = {}, {}
    for line in subprocess.run([prog], capture_output=True, text=True, check=True).stdout.splitlines():
        kind, name, value = line.split()
        (sizes if kind == "S" else offsets)[name] = int(value)
    return sizes, offsets


def offset_of(cls, path):
    """The ctypes offset of a dotted field path ("syscall.ret"), anonymous
    unions' members included."""
    off = 0
    for name in path.split("."):
        attr = name + "_" if keyword.iskeyword(name) else name
        desc = getattr(cls, attr)
        off += desc.offset
        for n, t, *_ in _all_fields(cls):
            if n == attr:
                cls = t
                break
        else:
            raise AssertionError("%s: no field %s" % (cls.__name__, attr))
        # an anonymous member: the descriptor's offset already includes it
    return off


def _all_fields(cls):
    out = list(getattr(cls, "_fields_", []))
    for anon in getattr(cls, "_anonymous_", ()):
        t = dict((n, t) for n, t, *_ in cls._fields_)[anon]
        out += list(t._fields_)
    return out


def test_every_mirror_is_checked(layout):
    sizes, _ = layout
    names = {c._c_name_ for c in S.mirrors()}
    assert names == set(sizes), ("mirrored, not in abi_layout.c: %s; in abi_layout.c, not "
                                 "mirrored: %s" % (names - set(sizes), set(sizes) - names))


@pytest.mark.parametrize("cls", S.mirrors(), ids=lambda c: c._c_name_)
def test_size_and_offsets(layout, cls):
    import ctypes
    sizes, offsets = layout
    assert ctypes.sizeof(cls) == sizes[cls._c_name_]
    mine = {k: v for k, v in offsets.items() if k.split(".", 1)[0] == cls._c_name_}
    assert mine, "no field offsets of %s in abi_layout.c" % cls._c_name_
    got = {k: offset_of(cls, k.split(".", 1)[1]) for k in mine}
    assert got == mine
