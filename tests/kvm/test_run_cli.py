#!/usr/bin/env python3
"""vmic run, as a user runs it: a traced run to the end, a SIGTERM in the
middle of a traced run (vmic must undo every breakpoint and page permission
and let the guest finish right), text output, and bad command lines.

The guest (tests/guests/work.c) checks itself: its result, its counter, that
no breakpoint ever reached its own #BP handler and that its code bytes are
intact; it prints "work: all checks passed" and exits 0 only if all hold.

usage: test_run_cli.py VMIC GUEST_DIR   (exit 77 = skipped: no /dev/kvm)
"""
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

VMIC, GUESTS = sys.argv[1], sys.argv[2]
WORK = os.path.join(GUESTS, "work.elf")
ITERATIONS = 20000          # work.c's default
COUNTER_INIT = 0x1111111111111111
failures = 0


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("  FAIL:", what)
    return cond


def run(args, timeout=120):
    return subprocess.run([VMIC, "run"] + args, capture_output=True, text=True, timeout=timeout)


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def report(console, name):
    for line in reversed(console.splitlines()):
        if line.startswith("R " + name + " "):
            return int(line.split()[2], 0)
    return None


def guest_checks_passed(console):
    return (check("work: all checks passed" in console, "the guest's own checks failed:\n" + console)
            and check(report(console, "bp_hits") == 0, "a breakpoint reached the guest")
            and check(report(console, "code_intact") == 1, "the guest's code was left changed"))


def test_traced_run_to_the_end():
    r = run(["--trace=bp:work_fn,write:counter_word", "--json", "--timeout", "90", WORK])
    # Still traced when it checks itself, the guest reads work_fn's own bytes:
    # the breakpoint's INT3 is in a shadow page it cannot read. Every check of
    # its own holds.
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    guest_checks_passed(r.stderr)
    lines = json_lines(r.stdout)
    events = [l for l in lines if "event" in l]
    bps = [e for e in events if e["event"] == "interrupt"]
    writes = [e for e in events if e["event"] == "memory" and e["access"] == "write"]
    check(len(bps) == ITERATIONS, "%d breakpoint events, expected %d" % (len(bps), ITERATIONS))
    check(len(writes) == ITERATIONS, "%d write events, expected %d" % (len(writes), ITERATIONS))
    check(all(e.get("bp") == "work_fn" for e in bps), "breakpoints not all at work_fn")
    # Each write is the guest's counter going up by one, in order.
    values = [int(e["value"], 16) for e in writes]
    check(values == [COUNTER_INIT + 1 + i for i in range(len(values))], "write values out of order")
    summary = lines[-1].get("summary", {}) if lines else {}
    check(summary.get("guest") == "exited" and summary.get("exit_code") == 0, "summary %s" % summary)
    check(report(r.stderr, "result") == report(r.stderr, "expected"), "wrong result")
    check(report(r.stderr, "counter") == ITERATIONS, "wrong counter")
    check(report(r.stderr, "bp_hits") == 0, "a breakpoint reached the guest")


def test_sigterm_restores_and_guest_finishes():
    with tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen([VMIC, "run", "--trace=bp:work_fn,write:counter_word", "--json",
                              "--timeout", "90", WORK], stdout=subprocess.PIPE, stderr=err,
                             text=True)
        seen = []
        while len(seen) < 200:
            line = p.stdout.readline()
            if not line:
                break
            seen.append(json.loads(line))
        p.send_signal(signal.SIGTERM)
        # The rest through the same buffered stream (communicate() would skip
        # what readline() already buffered); --timeout bounds it.
        rest = p.stdout.read()
        p.wait(timeout=90)
        err.seek(0)
        console = err.read()
    lines = seen + json_lines(rest)
    check(p.returncode == 0, "exit %d after SIGTERM: %s" % (p.returncode, console[-2000:]))
    detached = [i for i, l in enumerate(lines) if "detached" in l]
    if not check(len(detached) == 1, "no detach message: %s" % lines[-3:]):
        return
    d = detached[0]
    check(lines[d]["detached"] == "signal" and lines[d]["restored"], "detach %s" % lines[d])
    # Nothing traced after the detach; the run was cut short.
    check(all("event" not in l for l in lines[d + 1:]), "events after the detach")
    events = [l for l in lines[:d] if "event" in l]
    check(200 <= len(events) < 2 * ITERATIONS, "%d events before the detach" % len(events))
    summary = lines[-1].get("summary", {}) if lines else {}
    check(summary.get("guest") == "exited" and summary.get("exit_code") == 0, "summary %s" % summary)
    # From inside: the work finished with the right result, untouched code,
    # and not one INT3 left behind for the guest to run into.
    guest_checks_passed(console)
    check(report(console, "result") == report(console, "expected"), "wrong result")


def test_debugreg_tap():
    # The same breakpoint in a debug register: hits are breakpoint events.
    r = run(["--trace=bp:work_fn", "--tap", "debugreg", "--json", "--timeout", "90", WORK])
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    events = [l for l in json_lines(r.stdout) if "event" in l]
    check(len(events) == ITERATIONS, "%d events, expected %d" % (len(events), ITERATIONS))
    check(all(e["event"] == "breakpoint" and e.get("bp") == "work_fn" for e in events),
          "not all debug-register hits at work_fn: %s" % events[:2])
    guest_checks_passed(r.stderr)


def test_text_output():
    r = run(["--trace=io", WORK])
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    io = [l for l in r.stdout.splitlines() if " io " in l]
    check(len(io) == 1 and "out port 0x501" in io[0], "io lines: %s" % io)
    check("guest exited" in r.stdout, "no summary line: %s" % r.stdout)


def test_bad_command_lines():
    r = run(["--trace=bogus", WORK])
    check(r.returncode == 2 and "unknown trace" in r.stderr, "bad trace: %d %s" % (r.returncode, r.stderr))
    r = run([os.path.join(GUESTS, "no-such.elf")])
    check(r.returncode == 1 and "no-such.elf" in r.stderr, "missing image: %s" % r.stderr)
    r = run(["--trace=bp:work_fn", "--tap", "bogus", WORK])
    check(r.returncode == 2 and "unknown --tap" in r.stderr, "bad tap: %s" % r.stderr)
    r = run(["--trace=bp:no_such_symbol", WORK])
    check(r.returncode == 1 and "no_such_symbol" in r.stderr, "unknown symbol: %s" % r.stderr)
    r = run(["--mem", "3M", WORK])
    check(r.returncode == 1 and "2 MiB" in r.stderr, "bad memory size: %s" % r.stderr)
    r = subprocess.run([VMIC, "run", "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "usage: vmic run" in r.stdout, "--help")


KVM_CREATE_VM = 0xAE01


def kvm_unavailable():
    """Why /dev/kvm cannot host a VM here (the check vmic_kvm_available makes), or None."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "cannot open /dev/kvm: %s" % e.strerror
    try:
        os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
    except OSError as e:
        return "/dev/kvm refuses KVM_CREATE_VM: %s" % e.strerror
    finally:
        os.close(fd)
    return None


def main():
    why = kvm_unavailable()
    if why:
        print("\n*** SKIPPED: vmic run needs /dev/kvm: %s ***\n" % why)
        return 77
    for test in (test_traced_run_to_the_end, test_sigterm_restores_and_guest_finishes,
                 test_debugreg_tap, test_text_output, test_bad_command_lines):
        before = failures
        start = time.time()
        test()
        print("%s %s (%.1f s)" % ("ok  " if failures == before else "FAIL", test.__name__,
                                  time.time() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
