#!/usr/bin/env python3
"""The reproducers of issue 12 against the vmic command, each one a test that
failed before the fix: FIFOs and devices as dumps, ranges at the top of the
64-bit space, a dump that shrinks while mapped (made deterministic by
shrink_preload.so, which truncates the file right after vmic maps it), a
page table that maps itself, and `vmic boot --dir` / `qemu:DIR` in a
directory someone else planted.

usage: test_hostile_cli.py VMIC SHRINK_PRELOAD_SO FIXTURE_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

VMIC, SHRINK, FIXTURE = sys.argv[1], os.path.abspath(sys.argv[2]), sys.argv[3]
RAW = os.path.join(FIXTURE, "dump.raw")
TOP = 0xfffffffffffff000
failures = 0
work = tempfile.mkdtemp(prefix="vmic-hostile.")


def vmic(*args, timeout=20, env=None):
    """Runs vmic; returns (exit code, stdout, stderr, seconds). A timeout is a
    hang: reported as exit code None."""
    start = time.monotonic()
    try:
        p = subprocess.run([VMIC, *args], capture_output=True, text=True, timeout=timeout,
                           env=env, errors="replace")
    except subprocess.TimeoutExpired:
        return None, "", "", time.monotonic() - start
    return p.returncode, p.stdout, p.stderr, time.monotonic() - start


def expect_error(args, needle, timeout=10, env=None):
    """vmic must end in time with exit code 1 (a clean error, not a signal)
    and say `needle` on stderr."""
    rc, out, err, secs = vmic(*args, timeout=timeout, env=env)
    assert rc is not None, f"vmic {' '.join(args)} still running after {timeout} s"
    assert rc == 1, f"vmic {' '.join(args)}: exit {rc}, expected 1\nstderr: {err[-1500:]}"
    assert needle in err, f"vmic {' '.join(args)}: stderr lacks {needle!r}: {err[-1500:]}"
    return out, err, secs


def test(fn):
    global failures
    try:
        fn()
        print(f"ok   {fn.__name__}", flush=True)
    except AssertionError as e:
        failures += 1
        print(f"FAIL {fn.__name__}: {e}", flush=True)
    return fn


def path(name):
    return os.path.join(work, name)


def lime(name, ranges):
    """A LiME file of (first, last inclusive, bytes) ranges."""
    with open(path(name), "wb") as f:
        for first, last, data in ranges:
            f.write(struct.pack("<IIQQ8x", 0x4C694D45, 1, first, last))
            f.write(data)
    return path(name)


# ---- files that are not dumps ---------------------------------------------------------

@test
def test_fifo_ends_at_once():
    fifo = path("fifo")
    os.mkfifo(fifo)
    _, _, secs = expect_error(["info", fifo], "a FIFO", timeout=5)
    assert secs < 2, f"took {secs:.1f} s"
    # The kvm driver's guest image too (vmic run checks for /dev/kvm first).
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        expect_error(["run", fifo], "not a regular file", timeout=5)


@test
def test_directory_and_device():
    expect_error(["info", work], "a directory")
    expect_error(["info", "/dev/zero"], "a character device")


# ---- the top of the 64-bit space -----------------------------------------------------

@test
def test_lime_ending_below_top_page():
    f = lime("top.lime", [(0, 0xfff, b"\0" * 4096), (TOP - 0x1000, TOP - 1, b"T" * 4096)])
    rc, out, err, _ = vmic("info", "--json", f)
    assert rc == 0, err
    info = json.loads(out)
    assert info["max_pa"] == "0xfffffffffffff000", info["max_pa"]
    rc, out, err, _ = vmic("read", "--pa", "--raw", f, "0x%x" % (TOP - 16), "16")
    assert rc == 0 and out == "T" * 16, (rc, out, err)
    # Across the end of the last range: an error, not the bytes at pa 0.
    expect_error(["read", "--pa", f, "0x%x" % (TOP - 8), "16"], "0xfffffffffffff000")


@test
def test_lime_ending_at_2_64_refused():
    f = lime("wrap.lime", [(0, 0xfff, b"\0" * 4096), (TOP, 0xffffffffffffffff, b"W" * 4096)])
    expect_error(["info", "--json", f], "ends at 2^64")


@test
def test_lime_one_below_2_64():
    f = lime("last.lime", [(0, 0xfff, b"\0" * 4096), (TOP, 0xfffffffffffffffe, b"L" * 4095)])
    rc, out, err, _ = vmic("info", "--json", f)
    assert rc == 0, err
    assert json.loads(out)["max_pa"] == "0xffffffffffffffff", out


@test
def test_os_commands_end_on_top_range():
    """No kernel in it, a last range ending at 0xfffffffffffff000: every OS
    command must end soon with a clear error (it used to walk 2^52 pages)."""
    f = lime("nokernel.lime", [(0, 0xfffff, b"\0" * 0x100000),
                               (TOP - 0x1000, TOP - 1, b"\0" * 4096)])
    for cmd in ("ps", "banner", "dmesg", "modules"):
        rc, _, err, secs = vmic(cmd, f, timeout=20)
        assert rc is not None, f"vmic {cmd}: still running after 20 s"
        assert rc == 1 and err.strip(), f"vmic {cmd}: exit {rc}, stderr {err[-500:]!r}"


# ---- a dump that shrinks while mapped ---------------------------------------------------

def shrinking_env(size):
    env = dict(os.environ, LD_PRELOAD=SHRINK, VMIC_TEST_SHRINK_TO=str(size))
    # Under ASan the runtime must come first; the shim does not mind.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
    return env


def copy_of_fixture(name):
    dst = path(name)
    shutil.copyfile(RAW, dst)
    return dst


def fixture_cr3():
    with open(os.path.join(FIXTURE, "registers.txt")) as f:
        for word in f.read().split():
            if word.startswith("CR3="):
                return "0x" + word[4:]
    raise AssertionError("no CR3 in registers.txt")


@test
def test_shrunk_dump_read():
    f = path("shrink.raw")
    with open(f, "wb") as out:
        out.write(b"S" * (16 << 20))
    # Control: without the shim the read works.
    rc, out, err, _ = vmic("read", "--pa", f, "0xc00000", "16")
    assert rc == 0, err
    expect_error(["read", "--pa", f, "0xc00000", "16"], "shrank", env=shrinking_env(8 << 20))
    assert os.path.getsize(f) == 8 << 20, "the shim did not truncate: the test proves nothing"


@test
def test_shrunk_dump_pagetable():
    """The issue's reproducer: pagetable --pages while the dump goes to 8 MiB."""
    f = copy_of_fixture("pt.raw")
    root = fixture_cr3()
    rc, _, err, _ = vmic("pagetable", "--pages", "--root", root, f, timeout=60)
    assert rc == 0, err
    expect_error(["pagetable", "--pages", "--root", root, f], "shrank", timeout=60,
                 env=shrinking_env(8 << 20))
    os.unlink(f)


@test
def test_shrunk_dump_ps():
    """ps reads kernel tables through pointers into the mapping: the guard's
    exit path, still a message and exit code 1, not a crash."""
    f = copy_of_fixture("ps.raw")
    expect_error(["ps", f], "shrank", timeout=60, env=shrinking_env(8 << 20))
    os.unlink(f)


# ---- page tables that map themselves -------------------------------------------------

def tables(name, pages):
    """A raw dump of 64 KiB with page-table pages: {pa: [entry] * 512}."""
    mem = bytearray(0x10000)
    for pa, entries in pages.items():
        struct.pack_into("<512Q", mem, pa, *entries)
    with open(path(name), "wb") as f:
        f.write(mem)
    return path(name)


@test
def test_pagetable_self_map():
    """8 KiB that map themselves: 0x1000 -> 0x2000 -> 0x1000 ... A cycle among
    ancestors: skipped, so the output is a few lines, not gigabytes."""
    f = tables("self.raw", {0x1000: [0x2003] * 512, 0x2000: [0x1003] * 512})
    rc, out, err, secs = vmic("pagetable", "--pages", "--root", "0x1000", f, timeout=20)
    assert rc == 0, (rc, err)
    assert len(out) < 4096, f"{len(out)} bytes of output"
    assert "0 ranges" in out and "262144 malformed or looping entries skipped" in out, out
    rc, out, err, _ = vmic("pagetable", "--json", "--root", "0x1000", f)
    doc = json.loads(out)
    assert doc["mappings"] == [] and doc["cut"] is False, doc


@test
def test_pagetable_leaf_budget():
    """Four acyclic pages, each entry pointing to the next: 512^4 leaves. The
    budget cuts the output, and the output says it was cut."""
    f = tables("alias.raw", {0x1000: [0x2003] * 512, 0x2000: [0x3003] * 512,
                             0x3000: [0x4003] * 512, 0x4000: [0x5003] * 512})
    rc, out, err, _ = vmic("pagetable", "--json", "--pages", "--max-leaves", "1000",
                           "--root", "0x1000", f)
    assert rc == 1 and "output cut" in err, (rc, err)
    doc = json.loads(out)
    assert len(doc["mappings"]) == 1000 and doc["cut"] is True, (len(doc["mappings"]), doc["cut"])
    assert "more than 1000 leaves" in doc["cut_reason"], doc["cut_reason"]
    # The default budget: 2^20 lines, not 4.8 GB.
    rc, out, err, secs = vmic("pagetable", "--pages", "--root", "0x1000", f, timeout=60)
    assert rc == 1 and "output cut" in err, (rc, err[-500:])
    lines = out.count("\n")
    assert (1 << 20) <= lines <= (1 << 20) + 3, lines


# ---- vmic boot --dir and qemu:DIR in planted directories -------------------------------

BOOT_FILES = ["cmdline.txt", "target", "console.log", "serial1.log", "qemu.log", "qemu.pid",
              "qemu.err", "ram"]


def snapshot(d):
    return {n: (os.lstat(os.path.join(d, n)).st_mtime_ns, open(os.path.join(d, n), "rb").read())
            for n in sorted(os.listdir(d))}


def planted(name, uid, mode, victims):
    """A directory owned by uid with mode, holding a symlink per boot file to a
    file in victims (owned by us, outside it)."""
    d = path(name)
    os.mkdir(d)
    for n in BOOT_FILES:
        os.symlink(os.path.join(victims, n), os.path.join(d, n))
    os.chmod(d, mode)
    os.lchown(d, uid, uid)
    return d


def root_with_nobody():
    if os.geteuid() != 0:
        print("     (skipped: planting files of another user needs root)")
        return None
    try:
        import pwd
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        print("     (skipped: no user 'nobody')")
        return None


@test
def test_boot_refuses_planted_dirs():
    nobody = root_with_nobody()
    if nobody is None:
        return
    victims = path("victims")
    os.mkdir(victims, 0o700)
    for n in BOOT_FILES:
        with open(os.path.join(victims, n), "w") as f:
            f.write(f"victim {n}\n")
    before = snapshot(victims)
    theirs = planted("theirs", nobody, 0o777, victims)
    ours_open = planted("ours-0777", 0, 0o777, victims)
    ours_ram = path("ours-ram")
    os.mkdir(ours_ram, 0o700)
    with open(os.path.join(ours_ram, "ram"), "wb") as f:
        f.write(b"\0" * 4096)
    os.chown(os.path.join(ours_ram, "ram"), nobody, nobody)
    link = path("link")
    os.symlink(victims, link)

    expect_error(["boot", "--no-kernel", "--dir", theirs], "owned by uid %d" % nobody)
    expect_error(["boot", "--no-kernel", "--dir", ours_open], "mode 0777")
    expect_error(["boot", "--no-kernel", "--dir", ours_ram], "not empty")
    expect_error(["boot", "--no-kernel", "--dir", link], "is a symlink")
    expect_error(["boot", "--stop", "qemu:" + theirs], "left alone")
    assert snapshot(victims) == before, "a file outside the planted directories changed"
    assert sorted(os.listdir(theirs)) == sorted(BOOT_FILES), os.listdir(theirs)

    # Attaching to what someone else made is refused with the reason.
    expect_error(["info", "qemu:" + theirs], "owned by uid %d" % nobody)
    expect_error(["info", "qemu:" + ours_open], "writable by others")
    expect_error(["info", "qemu:" + ours_ram], "ram is owned by uid %d" % nobody)
    assert snapshot(victims) == before


@test
def test_boot_makes_its_own_dir():
    if not shutil.which("qemu-system-x86_64"):
        print("     (skipped: no qemu-system-x86_64)")
        return
    d = path("fresh")
    rc, out, err, _ = vmic("boot", "--quiet", "--no-kernel", "--dir", d, timeout=120)
    try:
        assert rc == 0, err
        st = os.lstat(d)
        assert st.st_uid == os.geteuid() and st.st_mode & 0o7777 == 0o700, oct(st.st_mode)
        for n in ("cmdline.txt", "target", "qemu.err"):
            mode = os.lstat(os.path.join(d, n)).st_mode & 0o7777
            assert mode == 0o600, f"{n}: mode {mode:o}"
    finally:
        vmic("boot", "--stop", "qemu:" + d, timeout=60)
    assert not os.path.exists(d), "boot --stop left the directory"


shutil.rmtree(work, ignore_errors=True)
print(f"{failures} failed" if failures else "all passed")
sys.exit(1 if failures else 0)
