"""Parsers of the guest's own /proc text (its truth), shared by the tests
that compare vmic with it: tests/cli and tests/distro."""

# The super options the kernel prints for every filesystem (the generic part).
SUPER_GENERIC = {"ro", "rw", "sync", "dirsync", "mand", "lazytime"}


def parse_mountinfo(text, whole):
    """/proc/PID/mountinfo as dicts keyed like `vmic mounts --json`. The
    super options whole for the filesystem types in `whole` (those vmic
    renders, or that have none of their own on that guest); for the others
    their generic part only. Propagation without propagate_from, which vmic
    does not give."""
    out = []
    for line in text.splitlines():
        f = line.split()
        sep = f.index("-")
        supers = f[sep + 3].split(",")
        if f[sep + 1] not in whole:
            supers = [o for o in supers if o in SUPER_GENERIC]
        out.append({"id": int(f[0]), "parent_id": int(f[1]), "dev": f[2], "root": f[3],
                    "mount_point": f[4], "options": f[5],
                    "propagation": " ".join(o for o in f[6:sep]
                                            if not o.startswith("propagate_from:")),
                    "fstype": f[sep + 1], "source": f[sep + 2],
                    "super_options": ",".join(supers)})
    return out
