"""A PEP 517 build backend of the standard library alone, for this one
pure-Python package (see pyproject.toml for why not setuptools): a wheel is
a zip of vmic/*.py and its dist-info, an sdist a tar of the tree, an
editable install a .pth line pointing here. The wheel also records the
source tree it was built from (vmic/_built_from.py), where an installed
copy looks for an in-tree libvmic after $VMIC_LIBRARY. Name, version, summary and
Python requirement come from pyproject.toml's [project] table."""
import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def _project():
    text = open(os.path.join(HERE, "pyproject.toml")).read()
    table = text.split("[project]", 1)[1].split("\n[", 1)[0]
    get = lambda k: re.search(r'^%s\s*=\s*"([^"]*)"' % k, table, re.M).group(1)
    return {"name": get("name"), "version": get("version"), "summary": get("description"),
            "python": get("requires-python")}


def _metadata(p):
    readme = open(os.path.join(HERE, "README.md")).read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nRequires-Python: %s\n"
            "Description-Content-Type: text/markdown\n\n%s" %
            (p["name"], p["version"], p["summary"], p["python"], readme))


def _dist_info(p):
    return "%s-%s.dist-info" % (p["name"], p["version"])


def _wheel(directory, files, p):
    """Writes the wheel of files ({archive name: bytes}) with its RECORD."""
    info = _dist_info(p)
    files = dict(files)
    files[info + "/METADATA"] = _metadata(p).encode()
    files[info + "/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: vmic build_backend\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
    record.append(info + "/RECORD,,")
    files[info + "/RECORD"] = ("\n".join(record) + "\n").encode()
    name = "%s-%s-py3-none-any.whl" % (p["name"], p["version"])
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arc, data in files.items():
            z.writestr(arc, data)
    return name


def _sources():
    pkg = os.path.join(HERE, "vmic")
    return {"vmic/" + f: open(os.path.join(pkg, f), "rb").read()
            for f in sorted(os.listdir(pkg)) if f.endswith(".py") and f != "_built_from.py"}


def _wheel_sources():
    """The package, and where it was built from: an installed copy then
    also finds the libvmic of that source tree's build (vmic/_lib.py)."""
    files = _sources()
    files["vmic/_built_from.py"] = ('"""Written by build_backend.py."""\nSOURCE_TREE = %r\n' %
                                    os.path.dirname(HERE)).encode()
    return files


def get_requires_for_build_wheel(config_settings=None):
    return []


get_requires_for_build_sdist = get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _wheel(wheel_directory, _wheel_sources(), _project())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """pip install -e: the package imported from this directory."""
    return _wheel(wheel_directory, {"vmic_editable.pth": (HERE + "\n").encode()}, _project())


def build_sdist(sdist_directory, config_settings=None):
    p = _project()
    base = "%s-%s" % (p["name"], p["version"])
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "build_backend.py", "README.md"] + sorted(_sources()):
            t.add(os.path.join(HERE, rel), arcname=base + "/" + rel)
        pkg_info = _metadata(p).encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        t.addfile(ti, io.BytesIO(pkg_info))
    return name
