#!/usr/bin/python3
# test-http-examples.py: curl against the three HTTP example servers (TAP)
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Runs the C, Python and GJS HTTP servers in turn and talks to each with
curl (and, for requests curl will not send, a raw socket).

Usage: test-http-examples.py [HTTP_SERVER_BINARY [SOURCE_DIR]]

HTTP_SERVER_BINARY (or $ACHAT_HTTP_SERVER) is the built C server,
SOURCE_DIR (or $ACHAT_HTTP_SRCDIR, default: this script's directory) holds
http-server.py and http-server.js. The Python and GJS servers need the
typelib: set GI_TYPELIB_PATH and LD_LIBRARY_PATH (meson test does).
Servers listen on a port the kernel picks; every wait is bounded.
"""

import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from taplib import Tap  # noqa: E402

START_TIMEOUT = 10   # seconds for a server to print its port
IO_TIMEOUT = 10      # seconds for one request
EXIT_TIMEOUT = 10    # seconds for a server to exit after SIGTERM
CURL = shutil.which("curl") or "/usr/bin/curl"
# curl is not ours: under the sanitizer test setup, do not preload the
# sanitizer runtime into it.
CURL_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
GJS = shutil.which("gjs")
INDEX_START = b"achat HTTP example\n"
BODY_SIZE = 3 * 1024 * 1024   # past the channel's default max-input-size (1 MiB)


def make_body():
    """3 MiB of noise with NULs and header terminators in it (and at its
    very start, where the server just found one)."""
    body = bytearray(random.Random(2026).randbytes(BODY_SIZE))
    for i in range(0, BODY_SIZE - 8, 997):
        body[i:i + 8] = b"\r\n\r\n\0\0\0\0"
    return bytes(body)



class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


class Response:
    def __init__(self, status, headers, body):
        self.status = status      # an int
        self.headers = headers    # lower-case name -> value
        self.body = body

    def __repr__(self):
        body = self.body if len(self.body) <= 200 else self.body[:200] + b"..."
        return f"<Response {self.status} {self.headers} {body!r}>"

    def check(self, status, body=None, content_type=None):
        expect(self.status == status, f"status {self.status}, expected {status}: {self!r}")
        clen = self.headers.get("content-length")
        expect(clen == str(len(self.body)),
               f"Content-Length {clen!r} for a body of {len(self.body)} bytes")
        if content_type is not None:
            expect(self.headers.get("content-type", "").startswith(content_type),
                   f"Content-Type {self.headers.get('content-type')!r}, expected {content_type}")
        if body is not None and self.body != body:
            mismatch = next((i for i, (a, b) in enumerate(zip(self.body, body)) if a != b),
                            min(len(self.body), len(body)))
            raise CheckFailed(f"body of {len(self.body)} bytes differs from the expected "
                              f"{len(body)} bytes at offset {mismatch}")


def parse_head(head):
    """Parses a status line and header fields (bytes, no final blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.[01] ([0-9]{3})( .*)?", lines[0])
    expect(match, f"bad status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(match.group(1)), headers


def parse_response(data):
    head, separator, body = data.partition(b"\r\n\r\n")
    expect(separator, f"no end of headers in {data[:200]!r}")
    status, headers = parse_head(head)
    return Response(status, headers, body)


def curl(port, path, tmp, *options):
    """Runs curl; returns the final Response (after any 100 Continue)."""
    headers_file = os.path.join(tmp, "headers")
    body_file = os.path.join(tmp, "body")
    for name in (headers_file, body_file):
        if os.path.exists(name):
            os.unlink(name)
    command = [CURL, "-q", "--silent", "--show-error", "--noproxy", "*",
               "--max-time", str(IO_TIMEOUT), "--dump-header", headers_file,
               "--output", body_file, *options, f"http://127.0.0.1:{port}{path}"]
    try:
        run = subprocess.run(command, capture_output=True, timeout=IO_TIMEOUT + 5, env=CURL_ENV)
    except subprocess.TimeoutExpired:
        raise CheckFailed(f"curl did not finish: {command}")
    expect(run.returncode == 0,
           f"curl exited with {run.returncode}: {run.stderr.decode(errors='replace')}")
    with open(headers_file, "rb") as f:
        blocks = [b for b in f.read().split(b"\r\n\r\n") if b]
    with open(body_file, "rb") as f:
        body = f.read()
    expect(blocks, "curl saw no response headers")
    status, headers = parse_head(blocks[-1])
    return Response(status, headers, body)


def connect(port):
    client = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    client.settimeout(IO_TIMEOUT)
    return client


def read_all(client):
    """Reads until the server closes, within IO_TIMEOUT."""
    deadline = time.monotonic() + IO_TIMEOUT
    chunks = []
    while True:
        client.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = client.recv(65536)
        except socket.timeout:
            raise CheckFailed(f"no end of response after {IO_TIMEOUT} s: {b''.join(chunks)[:200]!r}")
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def raw_request(port, request):
    with connect(port) as client:
        client.sendall(request)
        return parse_response(read_all(client))


# The checks, each given the port and a scratch directory -----------------

def check_index(port, tmp):
    response = curl(port, "/", tmp)
    response.check(200, content_type="text/plain")
    expect(response.body.startswith(INDEX_START), f"unexpected page {response.body!r}")


def check_hello(port, tmp):
    curl(port, "/hello?name=achat", tmp).check(200, b"Hello, achat!", "text/plain")


def check_hello_encoded(port, tmp):
    curl(port, "/hello?name=J%C3%BCrgen+S%26P", tmp).check(200, "Hello, Jürgen S&P!".encode())


def check_echo_binary(port, tmp):
    body = make_body()
    path = os.path.join(tmp, "request-body")
    with open(path, "wb") as f:
        f.write(body)
    response = curl(port, "/echo", tmp, "--data-binary", f"@{path}",
                    "--header", "Content-Type: application/octet-stream")
    response.check(200, body, "application/octet-stream")


def check_echo_empty(port, tmp):
    path = os.path.join(tmp, "empty-body")
    open(path, "wb").close()
    response = curl(port, "/echo", tmp, "--data-binary", f"@{path}")
    response.check(200, b"")


def check_echo_continue(port, tmp):
    body = b"\0continued\r\n\r\n"
    with connect(port) as client:
        client.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body))
        interim = b""
        while not interim.endswith(b"\r\n\r\n"):
            chunk = client.recv(1)   # times out after IO_TIMEOUT
            expect(chunk, f"closed after {interim!r}")
            interim += chunk
        expect(interim == b"HTTP/1.1 100 Continue\r\n\r\n", f"interim response {interim!r}")
        client.sendall(body)
        parse_response(read_all(client)).check(200, body)


def check_oversend(port, tmp):
    # The bytes after the body are ignored: one response, then close.
    raw_request(port, b"POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\n"
                      b"helloGET / HTTP/1.0\r\n\r\n").check(200, b"hello")


def check_no_length(port, tmp):
    raw_request(port, b"POST /echo HTTP/1.1\r\nHost: x\r\n\r\n").check(411)


def check_too_large(port, tmp):
    raw_request(port, b"POST /echo HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n"
                      b"\r\n").check(413)


def check_header_flood(port, tmp):
    # Headers past the server's 64 KiB max-input-size: the channel closes,
    # with no response, however much more the client sends. 16 MiB is more
    # than the kernel's buffers take, so a server that kept reading (or
    # stopped reading without closing) fails the check.
    line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
    with connect(port) as client:
        client.settimeout(IO_TIMEOUT)
        try:
            client.sendall(b"GET / HTTP/1.1\r\n")
            for _ in range(16 * 1024):
                client.sendall(line)
        except (BrokenPipeError, ConnectionResetError):
            return
        except socket.timeout:
            raise CheckFailed("the server stopped reading but kept the connection open")
        try:
            response = read_all(client)
        except ConnectionResetError:
            return
        raise CheckFailed(f"16 MiB of headers accepted; response {response[:100]!r}")


def check_malformed(port, tmp):
    raw_request(port, b"GET /\r\n\r\n").check(400)
    raw_request(port, b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").check(400)
    raw_request(port, b"POST /echo HTTP/1.1\r\nContent-Length: -5\r\n\r\n").check(400)


def check_missing(port, tmp):
    curl(port, "/missing", tmp).check(404)
    curl(port, "/echo", tmp).check(404)   # GET, not POST


def check_parallel(port, tmp):
    names = [f"client{i}" for i in range(20)]
    options = ["--parallel", "--parallel-max", "20"]
    for name in names:
        options += ["--output", os.path.join(tmp, name),
                    f"http://127.0.0.1:{port}/hello?name={name}"]
    run = subprocess.run([CURL, "-q", "--silent", "--show-error", "--noproxy", "*",
                          "--max-time", str(IO_TIMEOUT), *options],
                         capture_output=True, timeout=IO_TIMEOUT + 5, env=CURL_ENV)
    expect(run.returncode == 0, f"curl exited with {run.returncode}: {run.stderr!r}")
    for name in names:
        with open(os.path.join(tmp, name), "rb") as f:
            expect(f.read() == f"Hello, {name}!".encode(), f"wrong answer for {name}")


CHECKS = [
    ("GET / returns the index page", check_index),
    ("GET /hello?name=achat says Hello, achat!", check_hello),
    ("GET /hello decodes the query (UTF-8, +, %26)", check_hello_encoded),
    (f"POST /echo returns a {BODY_SIZE}-byte binary body byte for byte", check_echo_binary),
    ("POST /echo with an empty body", check_echo_empty),
    ("POST /echo with Expect: 100-continue", check_echo_continue),
    ("bytes after the body are ignored", check_oversend),
    ("POST without Content-Length gets 411", check_no_length),
    ("a too large Content-Length gets 413", check_too_large),
    ("64 KiB of headers without an end: the connection is closed", check_header_flood),
    ("malformed requests get 400", check_malformed),
    ("GET /missing and GET /echo get 404", check_missing),
    ("20 parallel requests", check_parallel),
]
EXIT_CHECK = "exits with status 0 on SIGTERM, nothing on stderr"
TESTS_PER_SERVER = 1 + len(CHECKS) + 1   # start, checks, SIGTERM


def read_port(process):
    """Reads the first stdout line within START_TIMEOUT; returns the port."""
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            expect(left > 0 and selector.select(left),
                   f"no line on stdout after {START_TIMEOUT} s (got {line!r})")
            chunk = os.read(process.stdout.fileno(), 1)
            expect(chunk, f"stdout closed after {line!r}, exit status {process.poll()}")
            line += chunk
    match = re.fullmatch(rb"listening on 127\.0\.0\.1:([0-9]+)\n", line)
    expect(match and 0 < int(match.group(1)) < 65536, f"unexpected first line {line!r}")
    return int(match.group(1))


def run_server(tap, label, command, tmp):
    stderr_path = os.path.join(tmp, f"{label}.stderr")
    tap.diag(f"{label}: {' '.join(command)}")
    with open(stderr_path, "w+b") as stderr:
        # In a process group of its own, so that a failure kills it all.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=stderr,
                                   start_new_session=True)
        try:
            try:
                port = read_port(process)
                tap.result(True, f"{label}: starts and prints its port ({port})")
            except CheckFailed as e:
                tap.result(False, f"{label}: starts and prints its port", e)
                for name, _ in CHECKS:
                    tap.result(False, f"{label}: {name}", "the server did not start")
                tap.result(False, f"{label}: {EXIT_CHECK}", "the server did not start")
                return

            for name, check in CHECKS:
                try:
                    check(port, tmp)
                    tap.result(True, f"{label}: {name}")
                except (CheckFailed, OSError) as e:
                    tap.result(False, f"{label}: {name}", f"{type(e).__name__}: {e}")

            process.send_signal(signal.SIGTERM)
            try:
                status = process.wait(EXIT_TIMEOUT)
            except subprocess.TimeoutExpired:
                status = f"still running {EXIT_TIMEOUT} s after SIGTERM"
            stderr.seek(0)
            errors = stderr.read().decode(errors="replace")
            tap.result(status == 0 and not errors,
                       f"{label}: {EXIT_CHECK}",
                       f"exit status: {status}\nstderr:\n{errors}")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(EXIT_TIMEOUT)
            process.stdout.close()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("ACHAT_HTTP_SERVER")
    srcdir = (sys.argv[2] if len(sys.argv) > 2 else
              os.environ.get("ACHAT_HTTP_SRCDIR", os.path.dirname(os.path.abspath(__file__))))
    if not binary:
        print(__doc__, file=sys.stderr)
        return 2

    servers = [
        ("C", [os.path.abspath(binary), "0"]),
        ("Python", [sys.executable, os.path.join(srcdir, "http-server.py"), "0"]),
        ("GJS", [GJS, "-m", os.path.join(srcdir, "http-server.js"), "0"] if GJS else None),
    ]
    tap = Tap(len(servers) * TESTS_PER_SERVER)
    with tempfile.TemporaryDirectory(prefix="achat-http-") as tmp:
        for label, command in servers:
            if command is None:
                for _ in range(TESTS_PER_SERVER):
                    tap.result(True, f"{label}: not run", directive="SKIP gjs not found")
                continue
            run_server(tap, label, command, tmp)
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
