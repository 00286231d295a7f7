#!/usr/bin/env python3
"""Processes of a guest with how many files each has open, how many
memory regions it maps and the sockets it holds (TCP/UDP ports listened
on or connected, UNIX paths), as a table.

    usage: ps_files.py TARGET        (a dump, or qemu:DIR from `vmic boot`)
"""
import sys

import vmic


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with vmic.open(sys.argv[1]) as vm:
        socks = {}
        for k in vm.sockets():
            socks.setdefault(k.pid, []).append(k)
        print("%6s %6s %-16s %5s %5s %5s  %s" % ("PID", "PPID", "COMM", "FILES", "MAPS", "SOCKS",
                                                "COMMAND"))
        for p in vm.processes():
            if p.kernel_thread:
                continue  # no files or memory of their own
            mine = socks.get(p.pid, [])
            print("%6d %6d %-16s %5d %5d %5d  %s" % (p.pid, p.ppid, p.comm, len(p.files()),
                                                    len(p.maps()), len(mine), p.cmdline))
            for k in mine:
                where = ((k.path or "(unnamed)") if k.family == "unix" else
                         "[%s]:%d" % (k.local_addr, k.local_port)
                         if k.family == "inet6" else "%s:%d" % (k.local_addr, k.local_port))
                print("%37s%s %s %s %s" % ("", k.family, k.type, where, k.state))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except vmic.VmicError as e:
        print("ps_files: %s" % e, file=sys.stderr)
        sys.exit(1)
