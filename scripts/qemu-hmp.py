#!/usr/bin/env python3
"""Run one QEMU human-monitor (HMP) command over a unix socket; print its output.

Usage: qemu-hmp.py [--timeout SECONDS] SOCKET COMMAND...

The words after SOCKET are joined with spaces into one HMP command line.
Exit status is 0 once QEMU has shown its next "(qemu)" prompt, which for HMP
means the command has finished (dump-guest-memory without -d and pmemsave are
synchronous), or once the connection closes after "quit".

Python rather than socat: python3 is always there, socat often is not.
"""
import re
import socket
import sys
import time

PROMPT = b"(qemu) "
# HMP's line editor echoes what it receives and decorates it with terminal
# escape sequences even on a socket; strip them so callers get plain text.
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]")


def read_until_prompt(sock, deadline, allow_eof=False):
    buf = b""
    while not buf.endswith(PROMPT):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no HMP prompt; got so far: %r" % buf[-500:])
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            if allow_eof:
                return buf
            raise ConnectionError("QEMU closed the monitor; got: %r" % buf[-500:])
        buf += chunk
    return buf[: -len(PROMPT)]


def main(argv):
    timeout = 300.0
    if len(argv) > 2 and argv[1] == "--timeout":
        timeout = float(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    path, command = argv[1], " ".join(argv[2:])
    deadline = time.monotonic() + timeout

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    read_until_prompt(sock, deadline)  # banner
    sock.sendall(command.encode() + b"\n")
    is_quit = command.split()[0] in ("quit", "q")
    out = read_until_prompt(sock, deadline, allow_eof=is_quit)
    sock.close()

    text = ANSI.sub(b"", out).replace(b"\r", b"").decode(errors="replace")
    # Everything up to the first newline is the line editor redrawing our own
    # command as it "typed" it; the command's output follows.
    text = text.split("\n", 1)[1] if "\n" in text else ""
    text = text.strip("\n")
    if text:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
