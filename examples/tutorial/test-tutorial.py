#!/usr/bin/python3
# test-tutorial.py: runs the tutorial's line servers (C, Python, GJS) for
# real and checks what a client gets. Speaks TAP.
#
#   test-tutorial.py LINE_SERVER_EXE SOURCE_DIR
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

TIMEOUT = 10


def start(argv):
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    line = process.stdout.readline().decode()
    if not line.startswith("listening on 127.0.0.1:"):
        process.kill()
        raise AssertionError(f"{argv}: no port line: {line!r} {process.stderr.read()!r}")
    return process, int(line.rsplit(":", 1)[1])


def exchange(port, pieces):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        for piece in pieces:
            client.sendall(piece)
            time.sleep(0.05)
        received = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                return received
            received += chunk


def check(label, argv):
    results = []
    process, port = start(argv)
    try:
        got = exchange(port, [b"hello\r\nsecond li", b"ne\r\nQUIT\r\n"])
        results.append((got == b"you said: hello\r\nyou said: second line\r\nbye\r\n",
                        f"{label}: replies to each line, bye to QUIT, then closes ({got!r})"))
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            status = "killed"
        stderr = process.stderr.read()
    results.append((status == 0 and not stderr,
                    f"{label}: exits 0 on SIGTERM, nothing on stderr ({status}, {stderr[:200]!r})"))
    return results


def main():
    exe, srcdir = sys.argv[1], sys.argv[2]
    servers = [("C", [exe]),
               ("Python", ["/usr/bin/python3", os.path.join(srcdir, "line-server.py")])]
    gjs = shutil.which("gjs")
    servers.append(("GJS", [gjs, "-m", os.path.join(srcdir, "line-server.js")] if gjs else None))
    print(f"1..{2 * len(servers)}")
    n = 0
    failed = False
    for label, argv in servers:
        if argv is None:
            for _ in range(2):
                n += 1
                print(f"ok {n} # SKIP gjs is not installed")
            continue
        for ok, what in check(label, argv):
            n += 1
            print(f"{'ok' if ok else 'not ok'} {n} - {what}")
            failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
