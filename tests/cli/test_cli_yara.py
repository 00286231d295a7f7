#!/usr/bin/env python3
"""vmic yara on a real dump, checked against the guest's own truth: the
marker process's three strings (heap, .data, stack) found at the addresses
the marker printed, in its regions, and nowhere else; the kernel's
linux_banner found with --kernel at its kallsyms address; rules from a
directory; bad rules and a build without libyara fail with a clear error.

    test_cli_yara.py VMIC_BINARY FIXTURE_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import cli_common
from cli_common import ELF, RAW, kallsyms, paging_levels, test, truth, vmic

MARKER = dict(kv.split("=") for kv in truth("marker.txt").split())
MARKER_PID = int(MARKER["pid"])
STRINGS = dict(line.split("=", 1) for line in truth("marker-strings.txt").splitlines() if line)
PAGING = ("--paging", str(paging_levels()))
WORK = tempfile.mkdtemp(prefix="vmic-yara-test.")


def rules_file(name, text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(text)
    return path


MARKER_RULES = rules_file("marker.yar", "rule vmic_marker {\n  strings:\n%s\n  condition:\n"
                          "    any of them\n}\n" % "\n".join(
                              '    $%s = "%s"' % (k.split("_")[0], v)
                              for k, v in sorted(STRINGS.items())))


# Each @test runs where it is defined: a vmic built without libyara skips
# before the first.
_probe = subprocess.run([cli_common.VMIC, "yara", MARKER_RULES, ELF, "--pid", str(MARKER_PID)],
                        capture_output=True, text=True, timeout=120)
if _probe.returncode != 0 and "built without libyara" in _probe.stderr:
    print("SKIP: " + _probe.stderr.strip())
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(77)


def yara_json(*args):
    return json.loads(vmic("yara", "--json", *args).stdout)


def check_marker(matches):
    ours = [m for m in matches if m["pid"] == MARKER_PID]
    for key in ("heap", "data", "stack"):
        at = int(MARKER[key], 16)
        hits = [m for m in ours if m["string"] == "$" + key and int(m["addr"], 16) == at]
        assert len(hits) == 1, (key, hex(at), ours)
        m = hits[0]
        assert int(m["region_start"], 16) <= at < int(m["region_end"], 16), m
        assert m["length"] == len(STRINGS[key + "_string"]) and m["rule"] == "vmic_marker", m
        assert m["comm"] == "vmic-marker", m
    where = {m["string"]: m["path"] for m in ours}
    assert where["$heap"] == "[heap]" and where["$stack"] == "[stack]", where
    # The strings exist in the marker's memory only (it builds them at run time).
    assert not [m for m in matches if m["pid"] != MARKER_PID], matches


@test
def marker_strings_in_every_process_scan():
    check_marker(yara_json(MARKER_RULES, ELF))


@test
def marker_strings_with_pid_on_raw():
    check_marker(yara_json(MARKER_RULES, *PAGING, RAW, "--pid", str(MARKER_PID)))


@test
def kernel_banner():
    banner = truth("version.txt").strip()[:24]
    rules = rules_file("banner.yar", 'rule banner { strings: $v = "%s" condition: $v }\n' %
                       banner.replace("\\", "\\\\").replace('"', '\\"'))
    matches = yara_json("--kernel", rules, ELF)
    at = kallsyms()["linux_banner"]
    assert [m for m in matches if int(m["addr"], 16) == at and m["path"] == "[kernel image]"], \
        (hex(at), matches[:4])


@test
def rules_from_a_directory():
    d = os.path.join(WORK, "dir")
    os.mkdir(d)
    shutil.copy(MARKER_RULES, os.path.join(d, "a.yar"))
    rules_file("dir/b.yara", 'rule heap_only { strings: $h = "%s" condition: $h }\n' %
               STRINGS["heap_string"])
    rules_file("dir/notes.txt", "not rules")
    matches = yara_json(d, ELF, "--pid", str(MARKER_PID))
    assert {m["rule"] for m in matches} == {"vmic_marker", "heap_only"}, matches
    assert {m["namespace"] for m in matches} == {"a.yar", "b.yara"}, matches


@test
def bad_rules_fail_cleanly():
    bad = rules_file("bad.yar", "rule broken { strings: $a = \"x\" condition: $b }\n")
    p = vmic("yara", bad, ELF, rc=1)
    assert "bad.yar" in p.stderr and "$b" in p.stderr, p.stderr
    p = vmic("yara", "--json", os.path.join(WORK, "missing.yar"), ELF, rc=1)
    assert "missing.yar" in json.loads(p.stdout)["error"]["message"], p.stdout
    assert "exclude" in vmic("yara", "--pid", "1", "--kernel", MARKER_RULES, ELF, rc=2).stderr


if __name__ == "__main__":
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(cli_common.exit_status())
