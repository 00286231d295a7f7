#!/usr/bin/env python3
"""Processes of a guest with how many files each has open and how many
memory regions it maps, as a table.

    usage: ps_files.py TARGET        (a dump, or qemu:DIR from `vmic boot`)
"""
import sys

import vmic


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with vmic.open(sys.argv[1]) as vm:
        print("%6s %6s %-16s %5s %5s  %s" % ("PID", "PPID", "COMM", "FILES", "MAPS", "COMMAND"))
        for p in vm.processes():
            if p.kernel_thread:
                continue  # no files or memory of their own
            print("%6d %6d %-16s %5d %5d  %s" % (p.pid, p.ppid, p.comm, len(p.files()),
                                               len(p.maps()), p.cmdline))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except vmic.VmicError as e:
        print("ps_files: %s" % e, file=sys.stderr)
        sys.exit(1)
