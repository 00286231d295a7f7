"""The Python package on a live guest: the 6.1 fixture booted with `vmic
boot` in the workload mode, as tests/qemu/test_trace.py boots it (whose
guest handling and checks against the workload's own log are reused here:
the events' as_json() is `vmic trace --json`'s shape).

  trace      the workload's opens, execs, exits and forks, from vm.trace(),
             as its log says (test_trace's checks)
  break      breaking out of the loop detaches: the guest runs on and
             finishes a command (a breakpoint left would stop it for good)
  Ctrl-C     SIGINT to a script iterating vm.trace(): KeyboardInterrupt
             once the session has ended, whether it lands in the wait or in
             the loop's body; the same in Breakpoints.run
  bpm        a Python callback at do_sys_openat2 reads the file name from
             the caller's memory: the workload's 40 opens of /dev/null;
             a callback's exception is raised by run()
  killed     QEMU killed mid-trace: a VmicError with vmic's message
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

import vmic

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "qemu"))
import test_trace  # noqa: E402  (tests/qemu: boot, Guest, the workload checks)


@pytest.fixture(scope="module")
def guest(vmic_bin, fixture_dir):
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    if not os.path.exists(os.path.join(fixture_dir, "vmlinuz")):
        pytest.skip("no fixture kernel in %s" % fixture_dir)
    g = test_trace.boot(vmic_bin, fixture_dir, 1)
    try:
        yield g
    finally:
        g.stop()


def no_new_failures(before):
    """test_trace's checks count failures (and print them): none may be new."""
    assert test_trace.failures == before, "%d checks failed (printed above)" % (
        test_trace.failures - before)


def guest_runs(g, n=3):
    """The guest is running and completes a command: nothing holds it."""
    assert g.qmp("query-status")["return"]["status"] == "running"
    _, rc = g.command("loop %d" % n, timeout=60)
    assert rc == 0


def test_trace_workload(guest):
    g = guest
    log = {}
    with vmic.open(g.target) as vm:
        tr = vm.trace()

        def drive():  # once tracing: the workload's run, then the end of the trace
            tr.armed.wait(60)
            start = len(g.text())
            g.send("run 1")
            log["text"], log["rc"] = g.wait_idle("run 1", start, 120)
            tr.stop()

        t = threading.Thread(target=drive)
        t.start()
        events = list(tr)
        t.join()
        stats = tr.stats
    assert log["rc"] == 5, "the workload's exit code (its script ends with 5)"
    assert events and stats["events"] == len(events)
    assert {type(e).__name__ for e in events} >= {"Syscall", "Fork", "Exec", "Exit"}
    truth = log["text"]
    wpid = int(test_trace.truth_lines(truth, "start")[0]["pid"])
    js = [e.as_json() for e in events]
    before = test_trace.failures
    test_trace.check_opens(truth, js)
    test_trace.check_execs(truth, js)
    test_trace.check_exits(truth, js, wpid)
    test_trace.check_forks(truth, js)
    no_new_failures(before)
    # The decoded arguments as Python values: the paths the log says it opened.
    opened = {(e.pid, e.arg("filename").value) for e in events if isinstance(e, vmic.trace.Syscall)
              and e.name == "openat" and e.arg("filename") is not None}
    for o in test_trace.truth_lines(truth, "open"):
        assert (int(o["pid"]), o["path"]) in opened
    guest_runs(g)


def test_break_detaches(guest):
    g = guest
    with vmic.open(g.target) as vm:
        threading.Timer(1.0, lambda: g.send("loop 5")).start()
        seen = 0
        for ev in vm.trace(syscalls="openat"):
            seen += 1
            break  # the generator is closed here: the tracer detaches
        assert seen == 1
        time.sleep(2)
        guest_runs(g)


SCRIPT = """
import sys, vmic
with vmic.open(sys.argv[1]) as vm:
    tr = vm.trace()
    n = 0
    print("start", flush=True)
    try:
        for ev in tr:
            n += 1
    except KeyboardInterrupt:
        print("KeyboardInterrupt interrupted=%s session_alive=%s events=%d" % (
            tr.interrupted, tr._thread.is_alive(), n), flush=True)
"""


def test_ctrl_c_ends_the_trace(guest):
    g = guest
    p = subprocess.Popen([sys.executable, "-c", SCRIPT, g.target], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert p.stdout.readline().strip() == "start"
        time.sleep(3)  # armed (a breakpoint is ~ms under TCG)
        _, rc = g.command("loop 5", timeout=60)  # under trace
        assert rc == 0
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert "KeyboardInterrupt interrupted=True session_alive=False" in out, (out, err)
        assert int(out.split("events=")[1]) > 0
    finally:
        if p.poll() is None:
            p.kill()  # its guard process puts the guest back
            p.wait()
    guest_runs(g)


BODY_SCRIPT = """
import sys, threading, time, vmic
with vmic.open(sys.argv[1]) as vm:
    tr = vm.trace()
    print("start", flush=True)
    try:
        for ev in tr:
            time.sleep(0.2)  # Ctrl-C lands mostly here, in the loop's body
    except KeyboardInterrupt:
        # The loop dropped the generator: the session ended as it unwound.
        print("KeyboardInterrupt session_alive=%s" % tr._thread.is_alive(), flush=True)
    with vm.breakpoints() as bps:
        bps.add("do_sys_openat2", lambda hit: None)
        print("breakpoints", flush=True)
        try:
            bps.run(seconds=60)
        except KeyboardInterrupt:
            # The with block has closed the manager by now: its session must
            # have ended first (it uses the manager until then).
            alive = any(t.name == "vmic-breakpoints" for t in threading.enumerate())
            print("run KeyboardInterrupt interrupted=%s session_alive=%s" % (
                bps.interrupted, alive), flush=True)
"""


def test_ctrl_c_in_the_loop_body_and_in_run(guest):
    g = guest
    p = subprocess.Popen([sys.executable, "-c", BODY_SCRIPT, g.target], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        assert p.stdout.readline().strip() == "start"
        g.send("loop 200")  # events for the body to sleep on
        time.sleep(4)
        p.send_signal(signal.SIGINT)
        assert p.stdout.readline().strip() == "KeyboardInterrupt session_alive=False"
        assert p.stdout.readline().strip() == "breakpoints"
        time.sleep(2)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert out.strip() == "run KeyboardInterrupt interrupted=True session_alive=False", (
            out, err)
    finally:
        if p.poll() is None:
            p.kill()  # its guard process puts the guest back
            p.wait()
    time.sleep(1)
    guest_runs(g)


def run_during_loop(g, bps, n):
    """Runs the breakpoints while the guest's loop of n rounds runs (started a
    second in, so that they are armed), until it is done; returns the hits."""
    done = {}

    def drive():
        time.sleep(1)
        done["log"] = g.command("loop %d" % n, timeout=90)
        bps.stop()

    t = threading.Thread(target=drive)
    t.start()
    hits = bps.run(seconds=120)
    t.join()
    assert done["log"][1] == 0
    return hits


def test_breakpoint_callback_counts_opens(guest):
    g = guest
    with vmic.open(g.target) as vm:
        names = []

        def on_open(hit):
            # do_sys_openat2(dfd, filename, how): the name in the caller's memory
            # (kernel mode's CR3 maps user space too)
            assert hit.has_regs and hit.regs.rip == hit.breakpoint.va
            names.append(vm.read_va(hit.regs.rsi, 10, root=hit.regs.cr3))

        # Debug-register taps (the gdbstub's Z1): hits with the registers,
        # whatever else the driver may offer.
        with vm.breakpoints(tap="debugreg") as bps:
            assert bps.tap == "debugreg"
            bps.add("do_sys_openat2", on_open)
            hits = run_during_loop(g, bps, 40)
            assert hits == len(names) and names.count(b"/dev/null\0") == 40, names[:5]

            def fails(hit):
                raise LookupError("from the callback")

            bps.add("do_sys_openat2", fails)
            threading.Timer(1.0, lambda: g.send("loop 2")).start()
            with pytest.raises(LookupError, match="from the callback"):
                bps.run(seconds=60)
    time.sleep(1)
    guest_runs(g)


def test_plugin_breakpoints_count_without_registers(guest):
    """The plugin's exec watches (vmic boot loads the plugin): hits without
    registers, exactly one per open of the guest's loop."""
    g = guest
    with vmic.open(g.target) as vm:
        with vm.breakpoints(tap="plugin") as bps:
            assert bps.tap == "plugin"
            seen = []
            bps.add("do_sys_openat2", lambda hit: seen.append(hit.has_regs))
            hits = run_during_loop(g, bps, 40)
            # The loop's 40 opens (an idle guest opens next to nothing else).
            assert hits == len(seen) and 40 <= hits <= 42 and not any(seen), (hits, seen[:5])
    time.sleep(1)
    guest_runs(g)


def test_memory_controller_counts_executions(guest):
    """vmi-rs's memory controller through the plugin (the memory tap): the
    page of __x64_sys_getpid loses X in the manager's view. Every
    instruction fetched from it is an execute event; the breakpoint at the
    handler's first instruction is hit exactly once per getpid() of the
    guest's loop (the other instructions on the page pass, stepped over);
    a page the kernel reads and writes at every tick (jiffies') without X
    raises nothing, though jiffies moved meanwhile."""
    g = guest
    n = 300
    with vmic.open(g.target) as vm:
        jiffies = vm.symbol("jiffies_64")
        handler_pa = vm.translate(vm.symbol("__x64_sys_getpid"))
        with vm.breakpoints(tap="memory") as bps:
            assert bps.tap == "memory"
            seen = []
            bps.add("__x64_sys_getpid", lambda hit: seen.append((hit.has_regs, hit.pa)))
            data = []
            bps.add(jiffies, lambda hit: data.append(hit.pa))
            j0 = int.from_bytes(vm.read_va(jiffies, 8), "little")
            hits = run_during_loop(g, bps, n)
            j1 = int.from_bytes(vm.read_va(jiffies, 8), "little")
            st = bps.stats()
    # The loop's n getpid() calls, and nothing else in an idle busybox guest.
    assert hits == len(seen) == n, (hits, len(seen))
    assert all(not r and p == handler_pa for r, p in seen), seen[:3]
    assert st["passes"] > 0, st  # the page's other instructions, stepped over
    assert data == [] and j1 > j0, (data[:3], j0, j1)  # reads and writes: no event
    time.sleep(1)
    guest_runs(g)


def test_example_on_the_live_guest(guest):
    """The README's example against qemu:DIR: the live guest's processes."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    out = subprocess.run([sys.executable, os.path.join(root, "python", "examples", "ps_files.py"),
                          guest.target], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [l.split() for l in out.stdout.splitlines()[1:] if l[:6].strip().isdigit()]
    assert any(r[2] == "vmic-marker" for r in rows) and len(rows) > 5, out.stdout
    guest_runs(guest)


def test_qemu_killed_mid_trace_is_an_error(guest):
    """Last (it ends the guest): QEMU dies under vm.trace(); the loop ends
    with a VmicError that says so, within seconds, and the VM closes."""
    g = guest
    t0 = None
    with vmic.open(g.target) as vm:
        tr = vm.trace()

        def kill():
            nonlocal t0
            tr.armed.wait(60)
            g.send("run 4")
            time.sleep(3)
            t0 = time.time()
            os.kill(g.qemu_pid(), signal.SIGKILL)

        threading.Thread(target=kill).start()
        with pytest.raises(vmic.VmicError, match="QEMU|closed|gone") as e:
            for _ in tr:
                pass
    assert t0 is not None and time.time() - t0 < 30, "the trace outlived QEMU by %.0f s" % (
        time.time() - t0)
    print("after QEMU's death: %s: %s" % (type(e.value).__name__, e.value))
