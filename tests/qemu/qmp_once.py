"""One QMP command on a fresh connection, for the live tests.

QEMU serves one QMP client at a time, so each command opens the socket,
negotiates, sends the command, reads until its reply (events in between are
skipped) and closes again.
"""
import json
import socket


def qmp_once(path, command, timeout=None):
    """The reply object ({"return": ...} or {"error": ...}) to command."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
        f = s.makefile("rw")
        f.readline()   # the greeting
        for c in ("qmp_capabilities", command):
            f.write(json.dumps({"execute": c}) + "\n")
            f.flush()
            while True:
                reply = json.loads(f.readline())
                if "return" in reply or "error" in reply:
                    break
        return reply
    finally:
        s.close()
