#!/usr/bin/env python3
"""vmic netstat, vmic mounts and vmic env (issue 15) on a real dump, checked
against the guest's own truth: /proc/net/{tcp,tcp6,udp,udp6,unix} (and tcp
from inside a second network namespace), /proc/*/fd, /proc/*/ns/net,
/proc/PID/mountinfo and /proc/PID/environ, as scripts/make-fixture.sh's /init
wrote them.

    test_cli_netmounts.py VMIC_BINARY FIXTURE_DIR [--live]

With --live, the same checks on the fixture's kernel booted live (`vmic
boot`, TCG, ~40-120 s), against the truth its /init writes on that boot.
Exits 77 (skipped) on a fixture made before those truth sections existed,
or for --live without QEMU.
"""
import atexit
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

import cli_common
from cli_common import ELF, FIXTURE, RAW, VMIC, has_truth, test, truth, vmic

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "qemu"))
import fixture_boot  # noqa: E402  (the live boot's kernel command line)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import procfs  # noqa: E402  (parsers of /proc text)

LIVE = "--live" in sys.argv[3:]
READY = "=== VMIC-FIXTURE-READY ==="


def boot_live():
    """Boots the fixture's kernel and initrd as make-fixture.sh did, with
    vmic.workload (no kallsyms or dmesg sections: faster); returns the
    target and a directory holding the truth this boot wrote."""
    if shutil.which("qemu-system-x86_64") is None:
        print("skip: qemu-system-x86_64 is not installed (scripts/install-deps.sh)")
        sys.exit(77)
    shape = dict(kv.split("=", 1) for kv in open(os.path.join(FIXTURE, "shape.txt")).read().split())
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    directory = tempfile.mkdtemp(prefix="vmic-netmounts.", dir=base)
    target = "qemu:" + directory
    atexit.register(lambda: (subprocess.run([VMIC, "boot", "--stop", target],
                                            capture_output=True, timeout=60),
                             shutil.rmtree(directory, ignore_errors=True)))
    append = fixture_boot.append(shape, shape.get("smp", "1"), "vmic.workload=1")
    # ttyS2, where the workload /init reads commands: nothing comes.
    r = subprocess.run([VMIC, "boot", "--quiet", "--dir", directory,
                        "--kernel", os.path.join(FIXTURE, "vmlinuz"),
                        "--initrd", os.path.join(FIXTURE, "initrd.gz"),
                        "--smp", shape.get("smp", "1"), "--cpu", shape.get("cpu", "qemu64"),
                        "-m", shape.get("ram", "256"), "--append", append,
                        "--wait-serial", READY, "--timeout", "240", "--", "-serial", "null"],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise SystemExit(f"vmic boot failed ({r.returncode}): {r.stderr[-2000:]}")
    truth_dir = os.path.join(directory, "truth-copy")
    os.makedirs(os.path.join(truth_dir, "truth"))
    text = open(os.path.join(directory, "serial1.log"), errors="replace").read()
    for name, body in re.findall(r"^=== BEGIN ([A-Za-z0-9_.-]+) ===\r?\n(.*?)^=== END \1 ===",
                                 text, re.S | re.M):
        with open(os.path.join(truth_dir, "truth", name + ".txt"), "w") as f:
            f.write(body.replace("\r", ""))
    return target, truth_dir


if LIVE and has_truth("sockets.txt"):
    LIVE_TARGET, cli_common.FIXTURE = boot_live()

SECTIONS = ("sockets", "net-tcp", "net-tcp-late", "time-wait", "net-tcp6", "net-udp", "net-udp6", "net-unix", "net-tcp-ns",
            "netns", "mountinfo-1", "mountinfo-marker", "chroot", "mountinfo-chroot",
            "environ-marker", "fds-all")
missing = [s for s in SECTIONS if not has_truth(f"{s}.txt")]
if missing:
    print(f"skip: this fixture's truth/ lacks {', '.join(missing)} (made by an older "
          "scripts/make-fixture.sh, or the distribution fixture); rebuild it to test netstat, "
          "mounts and env")
    sys.exit(77)

MARKER_PID = int(dict(kv.split("=") for kv in truth("marker.txt").split())["pid"])
SOCK = dict(kv.split("=") for kv in truth("sockets.txt").split())
SOCK_PID, NS_PID = int(SOCK["pid"]), int(SOCK["nspid"])
CHROOT_PID = int(truth("chroot.txt").split("=")[1])
NETNS = {int(l.split()[0]): int(l.split()[1][len("net:["):-1])
         for l in truth("netns.txt").splitlines()}
TARGETS = (LIVE_TARGET,) if LIVE else (RAW, ELF)
A, B = TARGETS[0], TARGETS[-1]


def v4(word):
    """/proc/net's IPv4 address: the __be32 printed as a host-order hex word."""
    return socket.inet_ntop(socket.AF_INET, struct.pack("<I", int(word, 16)))


def v6(words):
    return socket.inet_ntop(socket.AF_INET6, b"".join(
        struct.pack("<I", int(words[i:i + 8], 16)) for i in range(0, 32, 8)))


def inet_truth(section, proto, netns):
    """(proto, local addr, port, remote addr, port, netns) -> what vmic must
    say of the socket, from one /proc/net file (inode 0: TIME_WAIT, orphans)."""
    out = {}
    addr = v6 if proto.endswith("6") else v4
    for line in truth(f"{section}.txt").splitlines()[1:]:
        f = line.split()
        (la, lp), (ra, rp) = f[1].split(":"), f[2].split(":")
        w = {"proto": proto, "local_addr": addr(la), "local_port": int(lp, 16),
             "remote_addr": addr(ra), "remote_port": int(rp, 16),
             "sk_state": int(f[3], 16), "netns": netns, "inode": int(f[9])}
        out[inet_key(w)] = w
    return out


def inet_key(r):
    return (r["proto"], r["local_addr"], r["local_port"], r["remote_addr"], r["remote_port"],
            r["netns"])


def all_inet_truth():
    """Every TCP and UDP socket of both namespaces; TCP from the init
    namespace as it was just before the dump (net-tcp-late), with the
    TIME_WAIT sock made then."""
    want = {}
    for section, proto in (("net-tcp-late", "tcp"), ("net-tcp6", "tcp6"), ("net-udp", "udp"),
                           ("net-udp6", "udp6")):
        want.update(inet_truth(section, proto, NETNS[1]))
    want.update(inet_truth("net-tcp-ns", "tcp", NETNS[NS_PID]))
    return want


TIME_WAIT = ("tcp", "127.0.0.1", int(truth("time-wait.txt").split()[1]), "127.0.0.1", 7007,
             NETNS[1])


def expired(key, got):
    """A live guest's TIME_WAIT sock lives 60 s from its boot's truth: it may
    be gone by the time vmic looks. A dump holds it (made just before)."""
    return LIVE and key == TIME_WAIT and key not in got


def unix_truth(netns):
    """/proc/net/unix: flags (listening), type, St (from sk_state), inode, path."""
    out = {}
    for line in truth("net-unix.txt").splitlines()[1:]:
        f = line.split()
        listening = int(f[3], 16) & 0x10000
        st = int(f[5], 16)
        want = {"proto": "unix", "type": int(f[4], 16), "path": f[7] if len(f) > 7 else "",
                "netns": netns}
        if listening:
            want["sk_state"] = 10
        out[int(f[6])] = (want, st)
    return out


def socket_owners():
    """inode -> {(pid, fd)} from every process's /proc/PID/fd."""
    own = {}
    for line in truth("fds-all.txt").splitlines():
        pid, fd, target = line.split(" ", 2)
        if target.startswith("socket:["):
            own.setdefault(int(target[8:-1]), set()).add((int(pid), int(fd)))
    return own


def netstat(target, *args):
    return json.loads(vmic("netstat", "--json", *args, target).stdout)


def by_inode(rows):
    out = {}
    for r in rows:
        out.setdefault(r["inode"], []).append(r)
    return out


def by_key(rows):
    out = {}
    for r in rows:
        out.setdefault(inet_key(r) if r["proto"] != "unix" else ("unix", r["inode"]), []).append(r)
    return out


@test
def help_lists_the_commands():
    top = vmic("--help").stdout
    for cmd in ("netstat", "mounts", "env"):
        assert cmd in top, cmd
        out = vmic(cmd, "--help").stdout
        assert out.startswith(f"usage: vmic {cmd}") and "--json" in out, out


@test
def netstat_inet_sockets_match_proc_net():
    want = all_inet_truth()
    # The fixture's own sockets are all there (vmic-sockets: tcp 7001/7002/7005
    # held, 7006 and udp 7008 in flight, udp 7003/7004), and its TIME_WAIT.
    ports = sorted(w["local_port"] for w in want.values() if w["sk_state"] in (7, 10))
    assert ports == [7001, 7002, 7003, 7004, 7005, 7006, 7008], ports
    assert want[TIME_WAIT]["sk_state"] == 6, want[TIME_WAIT]
    assert NETNS[NS_PID] != NETNS[1]
    for target in TARGETS:
        got = by_key(netstat(target))
        for key, w in want.items():
            if expired(key, got):
                continue
            assert key in got, (target, key, w)
            for r in got[key]:
                assert {k: r[k] for k in w} == w, (target, key, r, w)
                assert not r["partial"], r
        # Both ways: every TCP/UDP socket vmic sees is one /proc/net shows.
        for key, rows in got.items():
            if rows[0]["proto"] in ("tcp", "tcp6", "udp", "udp6"):
                assert key in want, (target, rows)


@test
def netstat_lists_sockets_no_process_holds():
    """From the kernel's hash tables, pid 0 and fd -1: exactly the sockets of
    /proc/net no fd holds. The fixture has a TCP listener, a UDP and a UNIX
    socket in flight over a socketpair (their inodes, held by no fd), an
    orphan in FIN_WAIT2 and a TIME_WAIT sock (inode 0)."""
    want, owners = all_inet_truth(), socket_owners()
    loose = {k for k, w in want.items() if w["inode"] not in owners}
    states = sorted((w["sk_state"], w["local_port"] if w["inode"] else w["remote_port"])
                    for k, w in want.items() if k in loose)
    assert states == [(5, 7001), (6, 7007), (7, 7008), (10, 7006)], states
    unix = {("unix", inode): w for inode, (w, _) in unix_truth(NETNS[1]).items()
            if inode not in owners}
    assert [w["path"] for w in unix.values()] == ["@vmic-sockets-inflight"], unix
    for target in TARGETS:
        rows = netstat(target)
        got = by_key(r for r in rows if r["fd"] == -1)
        assert set(got) == {k for k in loose if not expired(k, got)} | set(unix), \
            (target, got, loose)
        for key, (r,) in got.items():
            assert r["pid"] == 0 and int(r["file"], 16) == 0 and int(r["sock"], 16) != 0, r
            if key in unix:
                assert {k: r[k] for k in unix[key]} == unix[key], (r, unix[key])
            else:
                assert r["inode"] == want[key]["inode"], (r, want[key])
        # They come after every held one, and the table shows them with "-".
        held = [i for i, r in enumerate(rows) if r["fd"] >= 0]
        assert max(held) < min(i for i, r in enumerate(rows) if r["fd"] == -1), rows
    lines = [l.split() for l in vmic("netstat", A).stdout.splitlines()[1:]]
    inflight = [l for l in lines if l[1] == "127.0.0.1:7006"]
    assert inflight and inflight[0][3:] == ["LISTEN", str(want[("tcp", "127.0.0.1", 7006,
                                                                   "0.0.0.0", 0, NETNS[1])]["inode"]),
                                            "-", "-", str(NETNS[1])], inflight


@test
def netstat_unix_sockets_match_proc_net_unix():
    want = unix_truth(NETNS[1])
    paths = sorted(w["path"] for w, _ in want.values() if w["path"])
    assert "/tmp/vmic-sockets.sock" in paths and "@vmic-sockets-abstract" in paths, paths
    for target in TARGETS:
        got = by_inode(netstat(target))
        for inode, (w, st) in want.items():
            assert inode in got, (target, inode, w)
            for r in got[inode]:
                assert {k: r[k] for k in w} == w, (target, inode, r, w)
                # St is SS_CONNECTED for an established socket, else SS_UNCONNECTED.
                assert st == (3 if r["sk_state"] == 1 else 1), (r, st)
        for inode, rows in got.items():
            if rows[0]["proto"] == "unix":
                assert inode in want, (target, rows)


@test
def netstat_owners_match_proc_fd():
    owners = socket_owners()
    alive = {p["pid"] for p in json.loads(vmic("ps", "--json", A).stdout)}
    for target in TARGETS:
        rows = netstat(target)
        got = {}
        for r in rows:
            if r["fd"] >= 0:  # held; the others, netstat_lists_sockets_no_process_holds
                got.setdefault(r["inode"], set()).add((r["pid"], r["fd"]))
        for inode, own in owners.items():
            own = {o for o in own if o[0] in alive}  # helpers gone by dump time
            assert got.get(inode, set()) == own, (target, inode, got.get(inode), own)
        assert set(got) <= set(owners), (target, set(got) - set(owners))
        # The namespace child inherited its parent's first ten and added one;
        # the parent then kept the accepted end of the orphan's connection.
        assert {r["fd"] for r in rows if r["pid"] == SOCK_PID} == set(range(3, 14))
        assert {r["fd"] for r in rows if r["pid"] == NS_PID} == set(range(3, 14))


@test
def netstat_pid_and_table():
    rows = netstat(B, "--pid", str(NS_PID))
    assert rows and {r["pid"] for r in rows} == {NS_PID}, rows
    table = vmic("netstat", "--pid", str(SOCK_PID), A).stdout.splitlines()
    assert table[0].split()[:4] == ["PROTO", "LOCAL", "REMOTE", "STATE"], table[0]
    lines = [l.split() for l in table[1:]]
    assert ["tcp", "127.0.0.1:7001", "0.0.0.0:0", "LISTEN"] == lines[0][:4], lines[0]
    assert any(l[:2] == ["tcp6", "[::1]:7002"] for l in lines), lines
    assert any(l[:2] == ["unix", "@vmic-sockets-abstract"] for l in lines), lines
    assert len(lines) == 11, lines
    assert ["tcp", "127.0.0.1:7001", "127.0.0.1:", "CLOSE_WAIT"] == \
        [lines[-1][0], lines[-1][1], lines[-1][2][:10], lines[-1][3]], lines[-1]


def mountinfo(name):
    """mountinfo lines as dicts. The super options whole for the filesystems
    vmic renders them for: tmpfs's (devtmpfs and rootfs are tmpfs here),
    devpts, cgroup2, bpf, ramfs, hugetlbfs and autofs's (each mounted by
    /init with options not its defaults; autofs's from the autofs4 module's
    own BTF) and proc's and sysfs's, which have none of their own here; for
    any other type only their generic part."""
    return procfs.parse_mountinfo(truth(name), {"tmpfs", "devtmpfs", "rootfs", "proc", "sysfs",
                                                "devpts", "cgroup2", "bpf", "ramfs", "hugetlbfs",
                                                "autofs"})


@test
def mounts_match_mountinfo():
    for target in TARGETS:
        for args, name in (((), "mountinfo-1.txt"),
                           (("--pid", str(MARKER_PID)), "mountinfo-marker.txt"),
                           (("--pid", str(CHROOT_PID)), "mountinfo-chroot.txt")):
            want = mountinfo(name)
            got = json.loads(vmic("mounts", "--json", *args, target).stdout)
            assert [{k: g[k] for k in want[0]} for g in got] == want, (target, got, want)
            assert not any(g["partial"] for g in got) and all(g["visible"] for g in got), got
    # The fixture's own: per-mount flags, a read-only bind of a subdirectory,
    # a shared mount and a slave of it.
    got = {m["mount_point"]: m for m in mountinfo("mountinfo-1.txt")}
    assert got["/tmp/vmic-mnt"]["options"] == "rw,nosuid,nodev,noexec,relatime"
    assert got["/tmp/vmic-ro"]["root"] == "/sub" and got["/tmp/vmic-ro"]["options"][:3] == "ro,"
    assert got["/tmp/vmic-mnt"]["propagation"].startswith("shared:")
    assert got["/tmp/vmic-slave"]["propagation"].startswith("master:")
    # The filesystems systemd mounts, with options that are not defaults.
    assert got["/dev/pts"]["super_options"] == "rw,gid=5,mode=620,ptmxmode=000", got["/dev/pts"]
    assert got["/sys/fs/cgroup"]["super_options"] == "rw,nsdelegate,memory_recursiveprot"
    assert got["/sys/fs/bpf"]["super_options"] == "rw,mode=700"
    assert got["/tmp/vmic-ramfs"]["super_options"] == "rw,mode=711"
    assert got["/dev/hugepages"]["super_options"] == \
        "rw,uid=7,mode=1770,pagesize=2M,size=4194304", got["/dev/hugepages"]
    # An automount's: its root's owner, the pid of the process group, the
    # timeout in seconds (set by an ioctl, as an automounter does; the kernel
    # keeps jiffies, vmic divides by HZ from tick_nsec), the pipe's inode.
    auto = got["/tmp/vmic-autofs"]["super_options"]
    assert re.fullmatch(r"rw,fd=8,uid=7,gid=7,pgrp=1,timeout=300,minproto=5,maxproto=5,"
                        r"indirect,strictexpire,pipe_ino=\d+", auto), auto


@test
def mounts_outside_a_chroot_are_hidden():
    """The chrooted process sees one mount; --all adds the others, not visible,
    with mount points from the namespace's root."""
    want = mountinfo("mountinfo-chroot.txt")
    assert [m["mount_point"] for m in want] == ["/mnt"], want
    everything = {m["id"]: m for m in mountinfo("mountinfo-1.txt")}
    got = json.loads(vmic("mounts", "--json", "--all", "--pid", str(CHROOT_PID), A).stdout)
    assert sorted(g["id"] for g in got) == sorted(everything), (got, everything)
    for g in got:
        shown = g["id"] == want[0]["id"]
        assert g["visible"] == shown, g
        if not shown:
            assert g["mount_point"] == everything[g["id"]]["mount_point"], (g, everything)
    lines = vmic("mounts", "--all", "--pid", str(CHROOT_PID), A).stdout.splitlines()
    assert sum("(outside the root)" in l for l in lines) == len(everything) - 1, lines


@test
def mounts_table():
    lines = vmic("mounts", A).stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "PARENT", "DEV", "ROOT", "MOUNTPOINT"], lines[0]
    assert len(lines) == 1 + len(mountinfo("mountinfo-1.txt"))
    ro = next(l.split() for l in lines if "/tmp/vmic-ro" in l)
    assert ro[3:8] == ["/sub", "/tmp/vmic-ro", "ro,nosuid,nodev,noexec,relatime", "tmpfs",
                       "vmic-tmpfs"], ro


@test
def env_is_proc_environ():
    want = truth("environ-marker.txt").splitlines()
    assert "VMIC_MARK_ENV=vmic-env-7c2d" in want
    assert any(v.startswith("VMIC_MARK_LONG=") and len(v) > 4096 for v in want)
    for target in TARGETS:
        got = json.loads(vmic("env", "--json", target, str(MARKER_PID)).stdout)
        assert [f"{g['name']}={g['value']}" for g in got] == want, (target, got)
        table = vmic("env", target, str(MARKER_PID)).stdout.splitlines()
        assert table == ["VARIABLE"] + want, table[:3]


@test
def env_of_kernel_thread_is_empty_and_bad_pid_fails():
    assert json.loads(vmic("env", "--json", A, "2").stdout) == []
    p = vmic("env", "--json", A, "99999", rc=1)
    assert "no process with pid 99999" in json.loads(p.stdout)["error"]["message"], p.stdout
    for cmd in ("mounts", "netstat"):
        p = vmic(cmd, "--json", "--pid", "99999", A, rc=1)
        assert json.loads(p.stdout)["error"]["message"] == "no process with pid 99999", p.stdout


if __name__ == "__main__":
    sys.exit(cli_common.exit_status())
