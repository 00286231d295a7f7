#!/usr/bin/env python3
"""issue 15's process commands (pstree, ps --threads, files of every process,
malfind, dump) on a live guest: the fixture's kernel and initramfs booted by
`vmic boot` as the fixture was made (its shape.txt), and the checks of
tests/cli/test_cli_proc.py run on qemu:DIR against the truth that this boot
of the guest wrote to its ttyS1 (the same /init as the fixture's; the
host-side files, the marker binary, its strings and the modules, come from
the fixture). ~60-100 s under TCG, mostly the guest's own truth collection.

    test_proc_live.py VMIC_BINARY FIXTURE_DIR
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_boot  # noqa: E402

VMIC, FIXTURE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
READY = "=== VMIC-FIXTURE-READY ==="
HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    print(msg, flush=True)


def sections(text):
    """The "=== BEGIN name ===" ... "=== END name ===" blocks, as make-fixture.sh splits them."""
    out, name = {}, None
    for line in text.replace("\r", "").splitlines():
        m = re.fullmatch(r"=== (BEGIN|END) ([A-Za-z0-9_.-]+) ===", line)
        if m:
            name = m.group(2) if m.group(1) == "BEGIN" else None
            if name:
                out[name] = []
        elif name:
            out[name].append(line)
    return out


def main():
    if shutil.which("qemu-system-x86_64") is None:
        log("*** SKIP: qemu-system-x86_64 is not installed (scripts/install-deps.sh) ***")
        return 77
    kernel, initrd = os.path.join(FIXTURE, "vmlinuz"), os.path.join(FIXTURE, "initrd.gz")
    if not (os.path.exists(kernel) and os.path.exists(initrd)):
        log(f"*** SKIP: no fixture kernel in {FIXTURE} (scripts/make-fixture.sh) ***")
        return 77
    shape = fixture_boot.shape(FIXTURE)
    append = fixture_boot.append(shape, shape.get("smp", "1"))  # tsc=unstable with 2 vCPUs
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    boot_dir = tempfile.mkdtemp(prefix="vmic-proc-live.", dir=base)
    truth_dir = tempfile.mkdtemp(prefix="vmic-proc-live-truth.")
    target = "qemu:" + boot_dir
    booted = False
    try:
        t0 = time.time()
        r = subprocess.run([VMIC, "boot", "--quiet", "--dir", boot_dir, "--kernel", kernel,
                            "--initrd", initrd, "--smp", shape.get("smp", "1"),
                            "--cpu", shape.get("cpu", "qemu64"), "-m", shape.get("ram", "256"),
                            "--append", append, "--wait-serial", READY, "--timeout", "300"],
                           capture_output=True, text=True, timeout=330)
        booted = r.returncode == 0
        log(f"vmic boot: exit {r.returncode} after {time.time() - t0:.1f} s")
        if not booted:
            log(r.stderr)
            return 1
        # A fixture dir of this boot: its truth, the fixture's host-side files.
        got = sections(open(os.path.join(boot_dir, "serial1.log"), errors="replace").read())
        os.mkdir(os.path.join(truth_dir, "truth"))
        for name, lines in got.items():
            with open(os.path.join(truth_dir, "truth", name + ".txt"), "w") as f:
                f.write("".join(l + "\n" for l in lines))
        shutil.copy(os.path.join(FIXTURE, "truth", "marker-strings.txt"),
                    os.path.join(truth_dir, "truth"))
        for name in ("vmic-marker", "modules", "shape.txt"):
            if os.path.exists(os.path.join(FIXTURE, name)):
                os.symlink(os.path.join(FIXTURE, name), os.path.join(truth_dir, name))
        env = dict(os.environ, VMIC_TEST_TARGET=target)
        p = subprocess.run([sys.executable, os.path.join(HERE, "..", "cli", "test_cli_proc.py"),
                            VMIC, truth_dir], env=env, timeout=600)
        return p.returncode
    finally:
        if booted:
            subprocess.run([VMIC, "boot", "--stop", target], capture_output=True, timeout=60)
        shutil.rmtree(truth_dir, ignore_errors=True)
        shutil.rmtree(boot_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
