#!/usr/bin/env python3
"""vmic on a real distribution (Debian bookworm with systemd), against the
guest's own view of itself.

The fixture (scripts/make-distro-fixture.sh) is a debootstrapped Debian with
systemd, udev, journald, dbus, cron and rsyslog, dumped under TCG once its
boot was over; its truth/ holds what the guest said just before the dump.

  dump   on dump.elf and dump.raw alike: ps (pid, ppid, comm, args),
         threads, maps, files (fd -> path; flags and pos where vmic gives
         them) of journald, rsyslogd, cron and dbus-daemon, modules (name, size,
         state, base), dmesg (every line the guest printed, in order),
         sym --all (every line of /proc/kallsyms but systemd's BPF programs),
         netstat (every socket of /proc/net/{tcp,tcp6,udp,udp6,unix}, both
         ways, with its owners from every /proc/PID/fd), mounts (init's
         /proc/1/mountinfo, line by line)
  live   the same disk booted again (vmic boot, snapshot=on): vmic ps,
         modules, the services' threads, maps and files, and dmesg against
         what the guest prints at that moment, the guest paused; vmic
         trace --pid (the guest's command shell) --follow for a bounded
         time while the guest runs vmic-work, whose own log says which
         children it started and what each opened

usage: test_distro.py VMIC FIXTURE_DIR [--no-live] [--keep] [--profile ISF]
       (exit 77 = skipped: no fixture or no QEMU)
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "qemu"))
from qmp_once import qmp_once  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import procfs  # noqa: E402  (parsers of /proc text)

READY = "=== VMIC-FIXTURE-READY ==="
SERVICES = ("systemd-journald", "rsyslogd", "cron", "dbus-daemon")
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("  FAIL:", what, flush=True)
    return cond


def log(msg):
    print(msg, flush=True)


PROFILE = []  # ["--profile", FILE] with --profile: symbols and types from an ISF


def vmic_json(vmic, *args, timeout=120):
    """vmic ARGS --json; (value, stderr) or (None, stderr) when it failed."""
    r = subprocess.run([vmic] + list(args[:1]) + ["--json"] + PROFILE + list(args[1:]),
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        return None, r.stderr.strip()
    return json.loads(r.stdout), r.stderr.strip()


def sections(text):
    """The "=== BEGIN name ===" blocks of a serial log, as {name: text}."""
    out = {}
    for m in re.finditer(r"^=== BEGIN (\S+) ===\n(.*?)^=== END \1 ===$", text, re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def read_truth(fixture):
    d = os.path.join(fixture, "truth")
    out = {}
    for name in os.listdir(d):
        if name.endswith(".txt"):
            with open(os.path.join(d, name), errors="replace") as f:
                out[name[:-4]] = f.read()
    return out


def same_comm(guest, vmic):
    """/proc's name may say more than comm (a kworker's workqueue, a cut name)."""
    return guest == vmic or guest.startswith(vmic + "-") or (len(vmic) == 15 and
                                                             guest.startswith(vmic))


def parse_ps(text):
    """procps 'ps -ww -eo pid,ppid,comm,args' as {pid: (ppid, comm, args)}."""
    out = {}
    for line in text.splitlines()[1:]:
        f = line.split(None, 3)
        if len(f) >= 3 and f[0].isdigit():
            out[int(f[0])] = (int(f[1]), f[2], f[3] if len(f) == 4 else "")
    return out


def truth_shell(services):
    """The pid of vmic-truth, the shell that printed the truth."""
    for line in services.splitlines():
        name, _, pid = line.partition(" ")
        if name == "vmic-truth":
            return int(pid)
    return None


def check_ps(what, mine, theirs, shell):
    """vmic's process list against the guest's ps taken just before.

    Gone by then: what the truth shell ran to print it (ps, cat, awk, its
    $(...) subshells) and their children. A process vmic lists and the guest
    did not must have been started after the guest's ps (a larger pid)."""
    gone = set()
    for pid, (ppid, _, _) in sorted(theirs.items()):
        if ppid == shell or ppid in gone:
            gone.add(pid)
    users = [p for p, (_, _, a) in theirs.items() if not a.startswith("[")]
    check(len(theirs) > 60 and len(users) > 8,
          "%s: the guest's ps lists only %d processes (%d user)" % (what, len(theirs), len(users)))
    compared = 0
    for pid, (ppid, comm, args) in sorted(theirs.items()):
        if pid in gone:
            continue
        p = mine.get(pid)
        if not check(p is not None, "%s: pid %d (%s) in the guest's ps, not in vmic's" %
                     (what, pid, comm)):
            continue
        compared += 1
        check(p["ppid"] == ppid, "%s: pid %d: ppid %d, guest says %d" % (what, pid, p["ppid"], ppid))
        check(same_comm(comm, p["comm"]), "%s: pid %d: comm %s, guest says %s" %
              (what, pid, p["comm"], comm))
        if args.startswith("[") and p["cmdline"].startswith("["):
            same = same_comm(args.strip("[]"), p["cmdline"].strip("[]"))
        else:
            same = p["cmdline"] == args
        check(same, "%s: pid %d: cmdline %r, guest says %r" % (what, pid, p["cmdline"], args))
    newest = max(theirs)
    late = [pid for pid in mine if pid not in theirs and pid != 0]
    for pid in late:
        check(pid > newest, "%s: pid %d (%s) in vmic's ps, not in the guest's" %
              (what, pid, mine[pid]["comm"]))
    log("  %s: %d processes compared, %d gone helpers, %d started after the truth" %
        (what, compared, len(gone), len(late)))
    return compared


# ---- the dump ------------------------------------------------------------------------------


def test_ps(vmic, dump, truth):
    got, err = vmic_json(vmic, "ps", dump)
    if not check(got is not None, "vmic ps %s: %s" % (dump, err)):
        return
    mine = {p["pid"]: p for p in got}
    check_ps("ps", mine, parse_ps(truth["ps"]), truth_shell(truth["services"]))
    # The same list read straight from /proc (tab-separated) agrees on comm.
    for line in truth["procs"].splitlines():
        f = line.split("\t")
        if len(f) == 4 and int(f[0]) in mine and int(f[1]) == mine[int(f[0])]["ppid"]:
            check(same_comm(f[2], mine[int(f[0])]["comm"]), "procs: pid %s comm %s, vmic %s" %
                  (f[0], f[2], mine[int(f[0])]["comm"]))


def service_pids(truth):
    out = {}
    for line in truth["services"].splitlines():
        name, _, pid = line.partition(" ")
        if name in SERVICES and pid.isdigit():
            out[name] = int(pid)
    check(set(out) == set(SERVICES), "services in the truth: %s" % out)
    return out


def test_threads(vmic, dump, truth, name, pid):
    got, err = vmic_json(vmic, "threads", dump, str(pid))
    if not check(got is not None, "vmic threads %s %d: %s" % (name, pid, err)):
        return
    theirs = set()
    for line in truth["threads-" + name].splitlines():
        tid, _, comm = line.partition(" ")
        theirs.add((int(tid), comm))
    mine = {(t["tid"], t["comm"]) for t in got}
    check(mine == theirs, "threads of %s: vmic %s, guest %s" % (name, sorted(mine), sorted(theirs)))
    check(all(t["tgid"] == pid for t in got), "threads of %s: a tgid other than %d" % (name, pid))


def test_maps(vmic, dump, truth, name, pid):
    got, err = vmic_json(vmic, "maps", dump, str(pid))
    if not check(got is not None, "vmic maps %s %d: %s" % (name, pid, err)):
        return 0
    theirs = []
    for line in truth["maps-" + name].splitlines():
        f = line.split(None, 5)
        start, end = (int(x, 16) for x in f[0].split("-"))
        theirs.append((start, end, f[1], int(f[2], 16), int(f[4]), f[5] if len(f) == 6 else ""))
    mine = [(int(m["start"], 16), int(m["end"], 16), m["perms"], int(m["offset"], 16), m["inode"],
             m["path"]) for m in got]
    check(len(mine) == len(theirs), "maps of %s: %d regions, guest says %d" %
          (name, len(mine), len(theirs)))
    for a, b in zip(mine, theirs):
        if not check(a == b, "maps of %s: vmic %r, guest %r" % (name, a, b)):
            break
    return len(theirs)


def test_files(vmic, dump, truth, name, pid):
    got, err = vmic_json(vmic, "files", dump, str(pid))
    if not check(got is not None, "vmic files %s %d: %s" % (name, pid, err)):
        return 0
    theirs = {}
    for line in truth["fds-" + name].splitlines():
        fd, _, target = line.partition(" ")
        theirs[int(fd)] = target
    info = {}
    for line in truth["fdinfo-" + name].splitlines():
        fd, pos, flags = line.split()
        info[int(fd)] = (int(pos), int(flags, 8))
    mine = {f["fd"]: f for f in got}
    check(sorted(mine) == sorted(theirs), "fds of %s: vmic %s, guest %s" %
          (name, sorted(mine), sorted(theirs)))
    for fd, target in theirs.items():
        f = mine.get(fd)
        if f is None:
            continue
        check(f["path"] == target, "%s fd %d: %r, guest says %r" % (name, fd, f["path"], target))
        pos, flags = info[fd]
        # Until vmic reads f_flags and f_pos (another change) it prints 0:
        # compare only what it claims to know.
        if f["flags"]:
            check(f["flags"] == flags, "%s fd %d: flags 0%o, guest says 0%o" %
                  (name, fd, f["flags"], flags))
        if f["pos"]:
            check(f["pos"] == pos, "%s fd %d: pos %d, guest says %d" % (name, fd, f["pos"], pos))
    return len(theirs)


def parse_modules(text):
    """/proc/modules: name size refs deps state address."""
    out = {}
    for line in text.splitlines():
        f = line.split()
        out[f[0]] = (int(f[1]), f[4], int(f[5], 16))
    return out


def test_modules(vmic, target, theirs, what="modules"):
    got, err = vmic_json(vmic, "modules", target)
    if not check(got is not None, "vmic modules: %s" % err):
        return
    check(len(theirs) > 20, "%s: the guest lists only %d modules" % (what, len(theirs)))
    mine = {m["name"]: (m["size"], m["state"], int(m["base"], 16)) for m in got}
    check(sorted(mine) == sorted(theirs), "%s: vmic %s, guest %s" %
          (what, sorted(set(mine) ^ set(theirs)), "differ by"))
    for name, t in theirs.items():
        if name in mine:
            check(mine[name] == t, "%s: %s is %r, guest says %r" % (what, name, mine[name], t))


def test_dmesg(vmic, dump, truth):
    got, err = vmic_json(vmic, "dmesg", dump)
    if not check(got is not None, "vmic dmesg: %s" % err):
        return
    # As util-linux dmesg prints a record: seconds.microseconds, then the text;
    # the further lines of a multi-line record indented below the first.
    mine = []
    for r in got:
        stamp = "[%5d.%06d] " % (r["ts_nsec"] // 10**9, r["ts_nsec"] % 10**9 // 1000)
        for i, part in enumerate(r["text"].split("\n")):
            mine.append((stamp if i == 0 else " " * len(stamp)) + part)
    theirs = truth["dmesg"].splitlines()
    check(len(theirs) > 300, "the guest's dmesg has only %d lines" % len(theirs))
    # The guest's dmesg ran shortly before the dump: vmic has every line of
    # it, in order, and perhaps a few later ones.
    check(mine[:len(theirs)] == theirs, "dmesg: first difference at line %s" %
          next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), len(mine)))
    tail = 40
    check(mine[len(theirs) - tail:len(theirs)] == theirs[-tail:], "dmesg: last %d lines differ" % tail)
    log("  dmesg: %d lines, vmic %d" % (len(theirs), len(mine)))


def test_kallsyms(vmic, dump, truth):
    """vmic sym --all, in /proc/kallsyms's own format, line for line."""
    r = subprocess.run([vmic, "sym", "--all"] + PROFILE + [dump], capture_output=True, text=True,
                       timeout=300)
    if not check(r.returncode == 0, "vmic sym --all: " + r.stderr.strip()):
        return
    mine = r.stdout.splitlines()
    theirs = truth["kallsyms"].splitlines()
    # systemd's BPF programs (JIT images, "[bpf]") are no kernel or module
    # symbols; vmic does not list them.
    bpf = [l for l in theirs if l.endswith("\t[bpf]")]
    theirs = [l for l in theirs if not l.endswith("\t[bpf]")]
    modules = sum(1 for l in theirs if l.endswith("]"))
    check(len(theirs) > 100000 and modules > 1000,
          "the guest's kallsyms has only %d lines (%d of modules)" % (len(theirs), modules))
    missing = sorted(set(theirs) - set(mine))
    extra = sorted(set(mine) - set(theirs))
    check(not missing, "kallsyms: %d lines vmic lacks, e.g. %s" % (len(missing), missing[:3]))
    check(not extra, "kallsyms: %d lines the guest lacks, e.g. %s" % (len(extra), extra[:3]))
    log("  kallsyms: %d lines (%d of modules, %d BPF programs left out)" %
        (len(theirs), modules, len(bpf)))


# ---- sockets and mounts (issue 15) on the guest people run ----------------------------------


def proc_net_addr(word):
    """/proc/net's hex address (__be32 words printed in host order)."""
    raw = b"".join(int(word[i:i + 8], 16).to_bytes(4, "little") for i in range(0, len(word), 8))
    return str(ipaddress.ip_address(raw))


def netstat_truth(truth):
    """{key: what vmic must say}: inet sockets by (proto, addresses, ports),
    UNIX ones by inode."""
    want = {}
    for name, proto in (("net-tcp", "tcp"), ("net-tcp6", "tcp6"), ("net-udp", "udp"),
                        ("net-udp6", "udp6")):
        for line in truth.get(name, "").splitlines()[1:]:
            f = line.split()
            if len(f) < 10 or ":" not in f[1]:
                continue  # no such file (a kernel without IPv6)
            (la, lp), (ra, rp) = f[1].split(":"), f[2].split(":")
            w = {"proto": proto, "local_addr": proc_net_addr(la), "local_port": int(lp, 16),
                 "remote_addr": proc_net_addr(ra), "remote_port": int(rp, 16),
                 "sk_state": int(f[3], 16), "inode": int(f[9])}
            want[(proto, w["local_addr"], w["local_port"], w["remote_addr"], w["remote_port"])] = w
    for line in truth["net-unix"].splitlines()[1:]:
        f = line.split()
        w = {"proto": "unix", "type": int(f[4], 16), "inode": int(f[6]),
             "path": f[7] if len(f) > 7 else ""}
        if int(f[3], 16) & 0x10000:
            w["sk_state"] = 10  # __SO_ACCEPTCON: listening
        want[("unix", w["inode"])] = w
    return want


def netstat_key(r):
    if r["proto"] == "unix":
        return ("unix", r["inode"])
    return (r["proto"], r["local_addr"], r["local_port"], r["remote_addr"], r["remote_port"])


def test_netstat(vmic, dump, truth):
    got, err = vmic_json(vmic, "netstat", dump)
    if not check(got is not None, "vmic netstat: %s" % err):
        return
    want = netstat_truth(truth)
    mine = {}
    for r in got:
        check(not r["partial"], "netstat: a partial row %s" % r)
        if r["proto"] in ("tcp", "tcp6", "udp", "udp6", "unix"):
            mine.setdefault(netstat_key(r), []).append(r)
    missing = sorted(set(want) - set(mine), key=str)
    extra = sorted(set(mine) - set(want), key=str)
    check(not missing, "netstat: %d sockets of /proc/net vmic lacks, e.g. %s" %
          (len(missing), [want[k] for k in missing[:3]]))
    check(not extra, "netstat: %d sockets /proc/net lacks, e.g. %s" %
          (len(extra), [mine[k][0] for k in extra[:3]]))
    for key, w in want.items():
        for r in mine.get(key, []):
            check({k: r[k] for k in w} == w, "netstat: %s, guest says %s" % (r, w))
    # Owners: every (pid, fd) of /proc/*/fd that is a socket, for the
    # processes still there at the dump.
    alive = {p["pid"] for p in vmic_json(vmic, "ps", dump)[0] or []}
    owners = set()
    for line in truth["fds-all"].splitlines():
        pid, fd, target = line.split(" ", 2)
        if target.startswith("socket:[") and int(pid) in alive:
            owners.add((int(pid), int(fd), int(target[8:-1])))
    held = {(r["pid"], r["fd"], r["inode"]) for r in got if r["fd"] >= 0}
    check(held == owners, "netstat owners: vmic lacks %s, guest lacks %s" %
          (sorted(owners - held)[:5], sorted(held - owners)[:5]))
    log("  netstat: %d sockets, %d of /proc/net (%d unix), %d held" %
        (len(got), len(want), sum(k[0] == "unix" for k in want), len(held)))


# The filesystems whose own super options vmic renders (tmpfs's, devpts's,
# cgroup2's, bpf's, ramfs's, hugetlbfs's, autofs's from the autofs4 module's
# own BTF: src/os/linux/mounts_fsopts.c) or that have none of their own on
# this guest; the others' (ext4's) are compared by their generic part only.
SUPER_WHOLE = {"tmpfs", "devtmpfs", "rootfs", "proc", "sysfs", "securityfs", "pstore",
               "debugfs", "tracefs", "mqueue", "configfs", "fusectl", "devpts", "cgroup2", "bpf",
               "ramfs", "hugetlbfs", "autofs"}


def test_mounts(vmic, dump, truth):
    got, err = vmic_json(vmic, "mounts", dump)
    if not check(got is not None, "vmic mounts: %s" % err):
        return
    want = procfs.parse_mountinfo(truth["mountinfo-1"], SUPER_WHOLE)
    mine = [{k: g[k] for k in want[0]} for g in got] if want else []
    check(len(mine) == len(want), "mounts: vmic %d, guest %d" % (len(mine), len(want)))
    for m, w in zip(mine, want):
        check(m == w, "mount %s: vmic %s, guest %s" % (w["mount_point"], m, w))
    check(all(g["visible"] and not g["partial"] for g in got), "mounts: hidden or partial rows")
    # Under systemd the initramfs's rootfs is outside init's root: --all has it.
    every, _ = vmic_json(vmic, "mounts", dump, "--all")
    hidden = [g for g in every or [] if not g["visible"]]
    check(any(g["fstype"] == "rootfs" for g in hidden), "mounts --all: no hidden rootfs in %s" %
          [(g["fstype"], g["mount_point"]) for g in hidden])
    log("  mounts: %d (%d more outside init's root)" % (len(mine), len(hidden)))


def test_dump(vmic, fixture, truth):
    pids = service_pids(truth)
    mods = parse_modules(truth["modules"])
    for dump in ("dump.elf", "dump.raw"):
        path = os.path.join(fixture, dump)
        log("%s:" % dump)
        got, err = vmic_json(vmic, "banner", path)
        if not check(got is not None, "%s: %s" % (dump, err)):
            # Nothing else can work; one failure says it (on this guest:
            # kernel discovery, issue 10 item 1).
            continue
        test_ps(vmic, path, truth)
        counts = []
        for name, pid in pids.items():
            test_threads(vmic, path, truth, name, pid)
            counts.append("%s %d maps %d fds" % (name, test_maps(vmic, path, truth, name, pid),
                                                 test_files(vmic, path, truth, name, pid)))
        log("  " + ", ".join(counts))
        test_modules(vmic, path, mods)
        test_dmesg(vmic, path, truth)
        test_kallsyms(vmic, path, truth)
        if "mountinfo-1" in truth and "net-unix" in truth:
            test_netstat(vmic, path, truth)
            test_mounts(vmic, path, truth)
        else:
            check(False, "truth/ lacks mountinfo-1 or net-unix: a fixture older than "
                  "tests/fixtures/distro/vmic-truth.sh; make-distro-fixture.sh --force")


# ---- live ----------------------------------------------------------------------------------


class Guest:
    """The fixture's disk booted by vmic boot, its command port on ttyS2."""

    def __init__(self, vmic, fixture, keep):
        self.vmic, self.keep = vmic, keep
        base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else "/tmp"
        self.dir = tempfile.mkdtemp(prefix="vmic-distro.", dir=base)
        os.rmdir(self.dir)  # vmic boot --dir makes it
        self.target = "qemu:" + self.dir
        self.port = None
        # The fixture's command line, plus vmic.live: the truth script then
        # skips kallsyms and dmesg, ~20 s of serial output under TCG.
        cmdline = "root=/dev/vda rw console=ttyS0 panic=-1 vmic.live"
        t0 = time.time()
        r = subprocess.run(
            [vmic, "boot", "--quiet", "--dir", self.dir,
             "--kernel", os.path.join(fixture, "vmlinuz"),
             "--initrd", os.path.join(fixture, "initrd.img"), "--append", cmdline,
             "--memory", "1024", "--smp", "2", "--wait-serial", READY, "--timeout", "600", "--",
             "-drive", "file=%s,if=virtio,format=raw,snapshot=on" %
             os.path.join(fixture, "disk.img"),
             "-serial", "unix:%s/ttyS2.sock,server=on,wait=off" % self.dir],
            capture_output=True, text=True, timeout=660)
        self.booted = r.returncode == 0
        log("  vmic boot: exit %d after %.1f s" % (r.returncode, time.time() - t0))
        if not self.booted:
            log(r.stderr)
            self.show_logs()
            return
        self.port = socket.socket(socket.AF_UNIX)
        # One connection for the whole test: QEMU drops bytes it has not
        # passed to the guest yet when the peer hangs up.
        self.port.connect(os.path.join(self.dir, "ttyS2.sock"))

    def text(self):
        with open(os.path.join(self.dir, "serial1.log"), errors="replace") as f:
            return f.read()

    def show_logs(self):
        for name in ("console.log", "serial1.log", "qemu.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    lines = f.read().splitlines()[-25:]
            except OSError:
                continue
            log("---- last lines of %s ----\n%s" % (name, "\n".join(lines)))

    def send(self, cmd):
        self.port.sendall((cmd + "\n").encode())

    def wait_idle(self, cmd, start, timeout=120):
        """The guest's output for CMD once it says it is done, and its rc."""
        marker = re.escape("=== VMIC-WORKLOAD-IDLE %s " % cmd) + r"rc=(\d+) ==="
        deadline = time.time() + timeout
        while time.time() < deadline:
            text = self.text()[start:]
            m = re.search(marker, text)
            if m:
                return text[:m.start()], int(m.group(1))
            time.sleep(0.2)
        return None, None

    def command(self, cmd, timeout=120):
        start = len(self.text())
        self.send(cmd)
        return self.wait_idle(cmd, start, timeout)

    def qmp(self, command):
        """One QMP command (QEMU takes one QMP client at a time: closed after)."""
        return qmp_once(os.path.join(self.dir, "qmp.sock"), command, timeout=30)

    def stop(self):
        if self.port:
            self.port.close()
        try:
            os.unlink(os.path.join(self.dir, "ttyS2.sock"))
        except OSError:
            pass
        if self.keep:
            log("  kept: %s (vmic boot --stop %s)" % (self.dir, self.target))
            return
        subprocess.run([self.vmic, "boot", "--stop", self.target], capture_output=True,
                       timeout=60)
        # vmic boot --stop ends QEMU; if it could not, end it by its pid.
        try:
            with open(os.path.join(self.dir, "qemu.pid")) as f:
                os.kill(int(f.read().split()[0]), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Trace:
    """vmic trace --json in the background, its output drained as it comes
    (a tracer blocked on a full pipe would hold the guest at a breakpoint)."""

    def __init__(self, vmic, target, args):
        self.p = subprocess.Popen([vmic, "trace", "--json"] + args + [target],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out, self.errs = [], []
        self.lock = threading.Lock()
        self.readers = [threading.Thread(target=self._drain, args=(self.p.stdout, self.out)),
                        threading.Thread(target=self._drain, args=(self.p.stderr, self.errs))]
        for r in self.readers:
            r.start()

    def _drain(self, stream, lines):
        for line in stream:
            with self.lock:
                lines.append(line)

    def err(self):
        with self.lock:
            return "".join(self.errs)

    def wait_armed(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline and self.p.poll() is None:
            if "tracing" in self.err():
                return True
            time.sleep(0.1)
        return "tracing" in self.err()

    def finish(self, timeout):
        """Waits for its end (--duration), SIGINT after TIMEOUT; the events."""
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                check(False, "vmic trace did not end on SIGINT")
        for r in self.readers:
            r.join()
        return [json.loads(l) for l in self.out if l.strip()]


def unquote(text):
    """The C literal vmic shows ("..." with escapes, maybe cut: ...) as a string."""
    if not text or not text.startswith('"'):
        return None
    body = text[1:]
    body = body[:-4] if body.endswith('"...') else body[:-1]
    return re.sub(r"\\(x[0-9a-fA-F]{2}|.)", lambda m: chr(int(m.group(1)[1:], 16))
                  if m.group(1)[0] == "x" else {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)),
                  body)


def arg(e, name):
    return next((a for a in e.get("args", []) if a["name"] == name), None)


def test_live_ps(g):
    log("live: vmic ps and modules against the guest's, the guest paused")
    text, rc = g.command("ps live")
    if not check(rc == 0, "the guest's ps failed (%s)" % rc):
        return
    secs = sections(text)
    g.qmp("stop")
    try:
        got, err = vmic_json(g.vmic, "ps", g.target)
        # Module addresses change with every boot: this boot's own list.
        test_modules(g.vmic, g.target, parse_modules(secs.get("modules-live", "")),
                     "live modules")
    finally:
        g.qmp("cont")
    if not check(got is not None, "vmic ps live: " + err):
        return
    shell = truth_shell(sections(g.text()).get("services", ""))
    check_ps("live ps", {p["pid"]: p for p in got}, parse_ps(secs.get("ps-live", "")), shell)


def test_live_state(g):
    log("live: threads, maps, files of the services and dmesg, the guest paused")
    text, rc = g.command("state live")
    if not check(rc == 0 and text, "the guest's state command failed (%s)" % rc):
        return
    # This boot's truth under the names the dump's tests read.
    truth = {k[:-len("-live")]: v for k, v in sections(text).items() if k.endswith("-live")}
    pids = service_pids(truth)
    g.qmp("stop")
    try:
        counts = []
        for name, pid in pids.items():
            test_threads(g.vmic, g.target, truth, name, pid)
            counts.append("%s %d maps %d fds" % (name, test_maps(g.vmic, g.target, truth, name, pid),
                                                 test_files(g.vmic, g.target, truth, name, pid)))
        test_dmesg(g.vmic, g.target, truth)
    finally:
        g.qmp("cont")
    log("  " + ", ".join(counts))


def test_live_trace(g):
    shell = truth_shell(sections(g.text()).get("services", ""))
    if not check(shell is not None, "no vmic-truth pid in the live guest's services section"):
        return
    log("live: vmic trace --pid %d --follow while the guest runs vmic-work" % shell)
    duration = 90
    t = Trace(g.vmic, g.target, ["--pid", str(shell), "--follow", "--duration", str(duration)])
    if not check(t.wait_armed(), "vmic trace did not start: " + t.err()):
        t.finish(5)
        return
    t0 = time.time()
    start = len(g.text())
    g.send("run live")
    text, rc = g.wait_idle("run live", start, duration)
    log("  vmic-work: rc %s after %.1f s under the tracer" % (rc, time.time() - t0))
    if text is not None:
        t.p.send_signal(signal.SIGINT)
    events = t.finish(duration + 30)
    check(t.p.returncode == 0, "vmic trace exit status %s: %s" % (t.p.returncode, t.err()))
    if not check(rc == 0 and text, "vmic-work did not finish under the tracer"):
        return
    m = re.search(r"vmic-work: start pid=(\d+)", text)
    if not check(m is not None, "no start line in vmic-work's output: %r" % text):
        return
    work = int(m.group(1))
    log("  %d events; vmic-work pid %d" % (len(events), work))

    def execve_ok(pid, path):
        return [e for e in events if e["type"] == "syscall" and e["name"] == "execve" and
                e["pid"] == pid and unquote(arg(e, "filename")["text"]) == path and e["ret"] == 0]

    check(len(execve_ok(work, "/usr/local/bin/vmic-work")) == 1,
          "execve(/usr/local/bin/vmic-work) = 0 by pid %d not seen once" % work)
    forks = [e["child"]["pid"] for e in events if e["type"] == "fork" and e["pid"] == shell]
    check(work in forks, "the fork %d -> %d not seen (forks of the shell: %s)" % (shell, work, forks))
    children = re.findall(r"vmic-work: exec pid=(\d+) path=(\S+) open=(\S+)", text)
    check(len(children) == 2, "vmic-work names %d children, not 2" % len(children))
    for pid, path, opened in children:
        pid = int(pid)
        check(len(execve_ok(pid, path)) == 1, "execve(%s) = 0 by pid %d not seen once" % (path, pid))
        execs = [e for e in events if e["type"] == "exec" and e["pid"] == pid]
        check(len(execs) == 1 and execs[0]["filename"] == path,
              "exec event of %d: %r" % (pid, [(e["filename"], e["comm"]) for e in execs]))
        opens = [e for e in events if e["type"] == "syscall" and e["pid"] == pid and
                 e["name"] in ("open", "openat") and
                 unquote(arg(e, "filename")["text"]) == opened and e["ret"] >= 0]
        check(len(opens) == 1, "open of %s by %d (%s) seen %d times" % (opened, pid, path,
                                                                         len(opens)))
    strangers = {e["pid"] for e in events if e["type"] == "syscall"} - \
        {shell, work} - {int(p) for p, _, _ in children}
    check(not strangers, "syscalls of pids neither the shell nor its children: %s" % strangers)


def test_live(vmic, fixture):
    if shutil.which("qemu-system-x86_64") is None:
        log("live: skipped, no qemu-system-x86_64")
        return
    g = Guest(vmic, fixture, keep)
    try:
        if not check(g.booted, "vmic boot of the fixture's disk failed"):
            return
        test_live_ps(g)
        test_live_state(g)
        test_live_trace(g)
        if failures:
            g.show_logs()
    finally:
        g.stop()


def main():
    global keep
    ap = argparse.ArgumentParser()
    ap.add_argument("vmic")
    ap.add_argument("fixture")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--keep", action="store_true", help="leave the live QEMU running")
    ap.add_argument("--profile", help="an ISF profile of the guest kernel for every vmic call")
    a = ap.parse_args()
    keep = a.keep
    if a.profile:
        PROFILE.extend(["--profile", a.profile])
    if not os.path.exists(os.path.join(a.fixture, "DONE")):
        log("\n*** SKIP: no distribution fixture in %s (scripts/make-distro-fixture.sh) ***\n" %
            a.fixture)
        sys.exit(77)
    truth = read_truth(a.fixture)
    test_dump(a.vmic, a.fixture, truth)
    if not a.no_live:
        test_live(a.vmic, a.fixture)
    log("test_distro: %s" % ("%d failures" % failures if failures else "all passed"))
    sys.exit(1 if failures else 0)


keep = False
if __name__ == "__main__":
    main()
