"""The package installs into a fresh venv with no registry (pip --no-index,
nothing in the venv but what `python3 -m venv` puts there) and the
installed copy runs the README's example on the fixture's dump, finding
the libvmic of the tree it was installed from."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


@pytest.mark.parametrize("isolation", [[], ["--no-build-isolation"]], ids=["isolated", "no-isolation"])
def test_fresh_venv_offline(tmp_path, fixture_dir, isolation):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VMIC_LIBRARY")}
    env["PIP_NO_INDEX"] = "1"  # no registry, whatever pip.conf says
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # A copy of python/ (pip may write build files beside the sources).
    src = tmp_path / "src"
    subprocess.run(["cp", "-r", os.path.join(ROOT, "python"), str(src)], check=True)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", *isolation, str(src)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    # Its libvmic: the one this test runs with (the build tree's).
    env["VMIC_LIBRARY"] = os.environ.get("VMIC_LIBRARY", "")
    if not env["VMIC_LIBRARY"]:
        del env["VMIC_LIBRARY"]
    out = subprocess.run([str(venv / "bin" / "python"), os.path.join(ROOT, "python", "examples",
                                                                     "ps_files.py"),
                          os.path.join(fixture_dir, "dump.elf")], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:6] == ["PID", "PPID", "COMM", "FILES", "MAPS", "SOCKS"]
    rows = [l.split() for l in lines[1:] if l[:6].strip().isdigit()]
    assert any(r[2] == "vmic-marker" for r in rows), lines
    if os.path.exists(os.path.join(fixture_dir, "truth", "net-tcp.txt")):
        # The fixture's socket owner, with its sockets listed under it.
        owner = [r for r in rows if r[2] == "vmic-sockets"]
        assert owner and int(owner[0][5]) >= 8, lines
        assert any("127.0.0.1:7001 LISTEN" in l for l in lines), lines
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import vmic; print(vmic.__file__)"],
                           capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=60)
    assert where.stdout.startswith(str(venv)), where  # the installed copy, not the tree's
