"""What the Python package's tests share: the fixture and the vmic command
from the command line (ctest passes them), and the guest's own truth files
(FIXTURE/truth/*.txt, written by scripts/make-fixture.sh).

    python3 -m pytest tests/python/test_dump.py --fixture DIR --vmic VMIC
"""
import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--fixture", help="a fixture directory (scripts/make-fixture.sh)")
    parser.addoption("--vmic", help="the vmic command (build/release/vmic)")
    parser.addoption("--abi-layout", help="tests/python/abi_layout.c, built")


@pytest.fixture(scope="session")
def fixture_dir(request):
    d = request.config.getoption("--fixture")
    if not d or not os.path.isdir(d):
        pytest.skip("no fixture directory (--fixture)")
    return d


@pytest.fixture(scope="session")
def vmic_bin(request):
    v = request.config.getoption("--vmic")
    if not v:
        pytest.skip("no vmic command (--vmic)")
    return v


class Truth:
    """The guest's own files about itself."""

    def __init__(self, fixture):
        self.dir = fixture

    def text(self, name):
        with open(os.path.join(self.dir, "truth", name)) as f:
            return f.read()

    def has(self, name):
        return os.path.exists(os.path.join(self.dir, "truth", name))

    def kv(self, name):
        """marker.txt (k=v words) or marker-strings.txt (k=v lines)."""
        return dict(w.split("=", 1) for w in self.text(name).split())

    def procs(self):
        out = {}
        for line in self.text("procs.txt").splitlines():
            f = line.split("\t")
            out[int(f[0])] = {"ppid": int(f[1]), "comm": f[2],
                              "cmdline": f[3] if len(f) > 3 else ""}
        return out


@pytest.fixture(scope="session")
def truth(fixture_dir):
    return Truth(fixture_dir)
