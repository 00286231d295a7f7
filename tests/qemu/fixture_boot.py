"""How the live tests boot a fixture's kernel: the fixture's shape (shape.txt,
written by scripts/make-fixture.sh: CPU model, PTI, RAM, vCPUs) and the
kernel command line for that shape. Shared by the tests that boot a fixture
through `vmic boot` (tests/qemu, tests/cli, tests/plugin)."""
import os


def shape(fixture):
    """The fixture's shape.txt as a dict ({} for a fixture made before it)."""
    path = os.path.join(fixture, "shape.txt")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return dict(kv.split("=", 1) for kv in f.read().split())


def append(fixture_shape, smp, extra=""):
    """The kernel command line for a live boot of this fixture with smp vCPUs:
    vmic boot's default (console=ttyS0 panic=-1), then extra, then the
    fixture's pti= when it was made with one.

    With more than one vCPU, also tsc=unstable. The 6.12 kernel with 2
    vCPUs (-cpu max or qemu64) marks sched_clock stable at late_initcall
    ("sched_clock: Marking stable"): a static key that text_poke_bp() flips
    in sched_clock_cpu() while the other vCPU calls it on every wakeup.
    Under QEMU 7.2's multi-threaded TCG that vCPU sometimes runs a stale
    translation that still holds the patch's temporary int3 after the kernel
    removed it: "Oops: int3" at sched_clock_cpu+0x9, a panic before READY
    (docs/DESIGN.md, "Facts about KVM and QEMU", with what was measured).
    tsc=unstable clears sched_clock's stability at boot, so that key is never
    flipped: what the 6.1 kernel does by itself with 2 qemu64 vCPUs ("TSCs
    unsynchronized"). The clocksource is then hpet; the live tests pass
    with it. One vCPU runs nothing concurrently, so single-vCPU boots keep
    the fixture's own command line.
    """
    line = "console=ttyS0 panic=-1"
    if extra:
        line += " " + extra
    if fixture_shape.get("pti", "auto") != "auto":
        line += " pti=" + fixture_shape["pti"]
    if int(smp) > 1:
        line += " tsc=unstable"
    return line
