#!/usr/bin/python3
# test-redis-example.py: redis-cli-lite against a real redis-server
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs redis-cli-lite against a redis-server started for the test.

Usage: test-redis-example.py REDIS_CLI_LITE

Starts redis-server on a free loopback port (no persistence), runs the
client for single commands and for a pipeline on standard input, and
compares what it prints (and its exit status) with what redis-cli prints
on a terminal. When redis-cli is installed, read-only queries are also run
through `redis-cli --no-raw` and the outputs compared.

Output is TAP; skipped when redis-server is not installed. Standard library
only; every wait is bounded.
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from taplib import Tap  # noqa: E402

REDIS_SERVER = "/usr/bin/redis-server"
STARTUP_TIMEOUT = 10.0
RUN_TIMEOUT = 30.0



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quote(value):
    """A bulk string as redis-cli prints it (sdscatrepr())."""
    escapes = {ord("\\"): "\\\\", ord('"'): '\\"', ord("\n"): "\\n", ord("\r"): "\\r",
               ord("\t"): "\\t", 7: "\\a", 8: "\\b"}
    out = []
    for byte in value:
        if byte in escapes:
            out.append(escapes[byte])
        elif 0x20 <= byte <= 0x7e:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


def peer_environment():
    """The environment for redis-server: a peer, not code under test, so
    without the sanitizer runtime the ASan setup preloads (redis-server 8
    crashes under it)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


class Redis:
    """A redis-server of our own, on a free loopback port."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = open(os.path.join(self.dir.name, "redis.log"), "wb")
        self.process = None
        self.port = None

    def start(self):
        # The port is free when picked; another process may take it before
        # redis binds it, so try a few.
        for _ in range(3):
            self.port = free_port()
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", self.dir.name],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                env=peer_environment())
            if self.wait_ready():
                return True
            self.stop()
        return False

    def wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log_text(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def close(self):
        self.stop()
        self.log.close()
        self.dir.cleanup()


class Runner:
    def __init__(self, tap, client, address):
        self.tap = tap
        self.client = client
        self.address = address

    def run(self, args, stdin=b"", address=None):
        argv = [self.client] + ([address or self.address] if address != "" else []) + args
        return subprocess.run(argv, input=stdin, capture_output=True, timeout=RUN_TIMEOUT)

    def check(self, description, args, expected, stdin=b"", status=0, stderr=b"",
              address=None, prefix=False):
        """Runs the client; compares stdout (exactly, or its start), status, stderr."""
        try:
            result = self.run(args, stdin, address)
        except subprocess.TimeoutExpired:
            self.tap.result(False, description, f"still running after {RUN_TIMEOUT} s")
            return
        expected = expected.encode("utf-8") if isinstance(expected, str) else expected
        stdout_ok = result.stdout.startswith(expected) if prefix else result.stdout == expected
        stderr_ok = stderr(result.stderr) if callable(stderr) else result.stderr == stderr
        ok = stdout_ok and stderr_ok and result.returncode == status
        self.tap.result(ok, description,
                        f"status {result.returncode}, expected {status}\n"
                        f"stdout {result.stdout[:2000]!r}\n"
                        f"expected {expected[:2000]!r}{' (start)' if prefix else ''}\n"
                        f"stderr {result.stderr[:2000]!r}")


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} REDIS_CLI_LITE", file=sys.stderr)
        return 2
    client = os.path.abspath(argv[1])

    if not os.access(REDIS_SERVER, os.X_OK):
        print("1..0 # SKIP redis-server not installed", flush=True)
        return 0

    tap = Tap()
    redis = Redis()
    try:
        if not redis.start():
            tap.plan(1)
            tap.result(False, "redis-server starts", redis.log_text())
            return 1
        tap.plan(22)
        r = Runner(tap, client, f"127.0.0.1:{redis.port}")

        # Single commands, given as arguments.
        r.check("PING", ["PING"], "PONG\n")
        tricky = "hello world\r\nwith spaces, \"quotes\", a tab\tand a line break"
        r.check("SET a value with spaces and \\r\\n", ["SET", "greeting", tricky], "OK\n")
        r.check("GET it back, quoted like redis-cli", ["GET", "greeting"],
                quote(tricky.encode()) + "\n")

        rng = random.Random(20260101)
        big = bytes(rng.randrange(0x20, 0x7f) for _ in range(100 * 1024))
        r.check("SET a 100 KiB value", ["SET", "big", big.decode("ascii")], "OK\n")
        r.check("GET the 100 KiB value", ["GET", "big"], quote(big) + "\n")
        r.check("STRLEN of the 100 KiB value", ["STRLEN", "big"], "(integer) 102400\n")

        r.check("INCR a new key", ["INCR", "counter"], "(integer) 1\n")
        r.check("INCR it again", ["INCR", "counter"], "(integer) 2\n")
        r.check("DEL", ["DEL", "greeting", "nokey"], "(integer) 1\n")
        r.check("GET a deleted key: nil", ["GET", "greeting"], "(nil)\n")
        r.check("GET a missing key: nil", ["GET", "missing"], "(nil)\n")
        r.check("LPUSH", ["LPUSH", "list", "a", "b c", "d"], "(integer) 3\n")
        r.check("LRANGE: an array", ["LRANGE", "list", "0", "-1"],
                '1) "d"\n2) "b c"\n3) "a"\n')
        r.check("LRANGE of nothing: an empty array", ["LRANGE", "nolist", "0", "-1"],
                "(empty array)\n")
        r.check("an unknown command: an error reply, exit status 0", ["NOSUCHCMD", "x"],
                "(error) ERR unknown command 'NOSUCHCMD'", prefix=True)
        r.check("a command on the wrong type: an error reply", ["INCR", "list"],
                "(error) WRONGTYPE Operation against a key holding the wrong kind of value\n")
        r.check("QUIT: OK, then the server closes", ["QUIT"], "OK\n")

        # A pipeline on standard input: quoting, escapes, binary data,
        # nested arrays, a line that does not parse, blank lines.
        pipeline = b"".join(line + b"\n" for line in [
            b'SET pipe "line one\\r\\nline two"',
            b"GET pipe",
            b'SET bin "\\x00\\x01\\xfe\\xff\\"\\\\"',
            b"GET bin",
            b"STRLEN bin",
            b"",
            b"   INCR    counter   ",
            b"RPUSH ten 1 2 3 4 5 6 7 8 9 10",
            b"LRANGE ten 0 -1",
            b"SET 'it\\'s' 'single \\'quoted\\''",
            b"GET \"it's\"",
            b'bad "unbalanced',
            b"MGET pipe nokey bin",
            b"MULTI",
            b"INCR counter",
            b"LRANGE list 0 1",
            b"GET nokey",
            b"EXEC",
            b"PING",
        ])
        expected = "".join([
            "OK\n",
            '"line one\\r\\nline two"\n',
            "OK\n",
            '"\\x00\\x01\\xfe\\xff\\"\\\\"\n',
            "(integer) 6\n",
            "(integer) 3\n",
            "(integer) 10\n",
            "".join(f'{i + 1:2d}) "{i + 1}"\n' for i in range(10)),
            "OK\n",
            "\"single 'quoted'\"\n",
            '1) "line one\\r\\nline two"\n2) (nil)\n3) "\\x00\\x01\\xfe\\xff\\"\\\\"\n',
            "OK\n",
            "QUEUED\n",
            "QUEUED\n",
            "QUEUED\n",
            '1) (integer) 4\n2) 1) "d"\n   2) "b c"\n3) (nil)\n',
            "PONG\n",
        ])
        r.check("a pipeline of commands on standard input", [], expected, stdin=pipeline,
                stderr=b"Invalid argument(s)\n")

        # Errors.
        r.check("the server closes the connection mid-pipeline: exit status 1", [],
                "PONG\nOK\n", stdin=b"PING\nQUIT\nPING\n", status=1,
                stderr=lambda e: b"closed the connection" in e or b"connection lost" in e)
        r.check("nobody listening: exit status 1", ["PING"], "", status=1,
                address=f"127.0.0.1:{free_port()}",
                stderr=lambda e: e.startswith(b"redis-cli-lite: cannot connect"))
        r.check("no arguments: usage, exit status 2", [], "", status=2, address="",
                stderr=lambda e: e.startswith(b"usage:"))

        # The same output as redis-cli itself, for read-only queries.
        redis_cli = shutil.which("redis-cli")
        queries = b"".join(line + b"\n" for line in [
            b"GET big", b"GET pipe", b"GET bin", b"LRANGE ten 0 -1", b"LRANGE list 0 -1",
            b"MGET pipe nokey bin", b"LRANGE nolist 0 -1", b"GET \"it's\"",
            b"COMMAND INFO GET SET", b"NOSUCHCMD x", b"INCR list", b"PING",
        ])
        if redis_cli is None:
            tap.skip("the same output as redis-cli --no-raw", "redis-cli not installed")
        else:
            theirs = subprocess.run([redis_cli, "-h", "127.0.0.1", "-p", str(redis.port),
                                     "--no-raw"], input=queries, capture_output=True,
                                    timeout=RUN_TIMEOUT)
            r.check("the same output as redis-cli --no-raw (12 read-only queries)", [],
                    theirs.stdout, stdin=queries)
    finally:
        redis.close()

    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
