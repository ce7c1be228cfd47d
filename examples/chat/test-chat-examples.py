#!/usr/bin/python3
# test-chat-examples.py: the chat servers in C, Python and GJS, through one
# scripted conversation
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs chat-server (C), chat-server.py and chat-server.js in turn.

Usage: test-chat-examples.py [--no-introspection] CHAT_SERVER SOURCE_DIR [CHAT_CLIENT]

For each server: start it, read the port it prints, connect clients, play
the same conversation (see CONVERSATION below), checking after every step
exactly which lines every client has received, in order; then SIGTERM it
and check that it exits with status 0 and printed nothing on stderr.
With CHAT_CLIENT (the Vala chat-client), one of the clients, dave, is that
program driven through its standard input and output; otherwise dave is a
socket like the others. With --no-introspection (achat was built without
its typelib), the Python and GJS servers are skipped.

Output is TAP. Standard library only; every wait is bounded.
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from taplib import Tap  # noqa: E402

STARTUP_TIMEOUT = 15.0   # GJS can be slow to start on a loaded machine
STEP_TIMEOUT = 5.0
EXIT_TIMEOUT = 10.0
QUIET_PERIOD = 0.3       # how long "nothing more arrives" is watched

WELCOME = "* welcome, send NICK <name>"
BAD_NICK = "! invalid nick, use 1-16 of A-Z a-z 0-9 _ -"
NICK_FIRST = "! send NICK <name> first"



class Failure(Exception):
    pass


# Peers -------------------------------------------------------------------

class Peer:
    """Someone in the chat: collects the lines the server sends them."""

    def __init__(self, name):
        self.name = name
        self.received = []   # str
        self.expected = []   # str
        self.eof = False
        self._buffer = b""

    def feed(self, data):
        if not data:
            self.eof = True
            if self._buffer:
                self.received.append(f"<unterminated: {self._buffer!r}>")
                self._buffer = b""
            return
        self._buffer += data
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            self.received.append(self.decode_line(line))

    def decode_line(self, line):
        return line.decode("utf-8", "backslashreplace")

    def send(self, line):
        self.send_raw(line.encode("utf-8") + b"\r\n")


class SocketPeer(Peer):
    """A TCP client: lines from the server must end with "\\r\\n"."""

    def __init__(self, name, port):
        super().__init__(name)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT)
        self.sock.setblocking(False)

    def fileno(self):
        return self.sock.fileno()

    def read(self):
        try:
            self.feed(self.sock.recv(65536))
        except BlockingIOError:
            pass
        except ConnectionError:
            self.feed(b"")

    def decode_line(self, line):
        if not line.endswith(b"\r"):
            return f"<no \\r> {super().decode_line(line)}"
        return super().decode_line(line[:-1])

    def send_raw(self, data):
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)

    def drop(self):
        self.sock.close()
        self.eof = True

    def close(self):
        if self.sock.fileno() >= 0:
            self.sock.close()


class ClientProcessPeer(Peer):
    """The Vala chat-client, driven through its standard input and output."""

    def __init__(self, name, client, port, stderr):
        super().__init__(name)
        self.process = subprocess.Popen(
            [client, f"127.0.0.1:{port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        os.set_blocking(self.process.stdout.fileno(), False)

    def fileno(self):
        return self.process.stdout.fileno()

    def read(self):
        try:
            data = os.read(self.fileno(), 65536)
        except BlockingIOError:
            return
        self.feed(data)

    def send_raw(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=EXIT_TIMEOUT)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


def pump(peers, until, timeout):
    """Reads what the peers receive until until() is true; False on timeout."""
    deadline = time.monotonic() + timeout
    while not until():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        open_peers = [p for p in peers if not p.eof]
        if not open_peers:
            return until()
        ready, _, _ = select.select(open_peers, [], [], min(remaining, 0.1))
        for peer in ready:
            peer.read()
    return True


# The conversation --------------------------------------------------------

class Chat:
    """Plays steps; after each one, checks what everybody received."""

    def __init__(self, port, client):
        self.port = port
        self.client = client
        self.peers = {}
        self.everybody = []   # every peer ever connected, for cleanup
        self.stderr_files = []

    def connect(self, name, use_client=False):
        if use_client:
            stderr = tempfile.TemporaryFile()
            self.stderr_files.append(stderr)
            peer = ClientProcessPeer(name, self.client, self.port, stderr)
        else:
            peer = SocketPeer(name, self.port)
        self.peers[name] = peer
        self.everybody.append(peer)
        return peer

    def open_peers(self):
        return [p for p in self.peers.values() if not p.eof]

    def expect(self, expectations):
        for name, lines in expectations.items():
            self.peers[name].expected.extend([lines] if isinstance(lines, str) else lines)

    def check(self, what, eof=()):
        """Waits for every expected line (and EOF), then compares exactly."""
        peers = list(self.peers.values())

        def done():
            return all(len(p.received) >= len(p.expected) for p in peers) and \
                all(self.peers[n].eof for n in eof)

        pump(self.open_peers(), done, STEP_TIMEOUT)
        problems = []
        for peer in peers:
            if peer.received != peer.expected:
                problems.append(f"{peer.name} expected {peer.expected!r}")
                problems.append(f"{peer.name} received {peer.received!r}")
        for name in eof:
            if not self.peers[name].eof:
                problems.append(f"{name}: the server did not close the connection")
        if problems:
            raise Failure(f"after: {what}\n" + "\n".join(problems))

    def quiet(self, what):
        """Checks that nothing more arrives for a while."""
        pump(self.open_peers(), lambda: False, QUIET_PERIOD)
        self.check(what)

    def close(self):
        for peer in self.everybody:
            try:
                peer.close()
            except Exception:   # cleanup must go on
                pass
        for f in self.stderr_files:
            f.close()


def conversation(chat):
    """The script. Every step waits until its effects are seen."""
    step = chat.check

    alice = chat.connect("alice")
    chat.expect({"alice": WELCOME})
    step("alice connects")

    alice.send("hello?")
    alice.send("/who")
    chat.expect({"alice": [NICK_FIRST, NICK_FIRST]})
    step("alice talks before NICK")

    alice.send("NICK alice")
    chat.expect({"alice": "* alice joined"})
    step("NICK alice")

    bob = chat.connect("bob")
    chat.expect({"bob": WELCOME})
    step("bob connects")

    bob.send("NICK bad name!")
    bob.send("NICK abcdefghijklmnopq")   # 17 characters
    bob.send("NICK")
    bob.send("NICK alice")
    chat.expect({"bob": [BAD_NICK, BAD_NICK, BAD_NICK, "! nick alice is taken"]})
    step("bob tries invalid and taken nicks")

    bob.send_raw(b"NICK bob\n")   # a bare "\n" ends a line too
    chat.expect({"alice": "* bob joined", "bob": "* bob joined"})
    step("NICK bob, with a bare \\n")

    alice.send("hi bob")
    chat.expect({"bob": "<alice> hi bob"})
    step("alice says hi")

    carol = chat.connect("carol")
    carol.send("NICK carol")
    chat.expect({"carol": [WELCOME, "* carol joined"],
                 "alice": "* carol joined", "bob": "* carol joined"})
    step("carol joins")

    carol.send("/who")
    chat.expect({"carol": "* users: alice bob carol"})
    step("carol asks /who")

    bob.send_raw("héllo ✓ tout le monde\n".encode("utf-8"))
    chat.expect({"alice": "<bob> héllo ✓ tout le monde",
                 "carol": "<bob> héllo ✓ tout le monde"})
    step("bob says something in UTF-8")

    dave = chat.connect("dave", use_client=chat.client is not None)
    chat.expect({"dave": WELCOME})
    step("dave connects")

    dave.send_raw(b"NICK dave\r\nhi all, I am dave\r\n")   # two lines at once
    chat.expect({name: "* dave joined" for name in ("alice", "bob", "carol", "dave")})
    chat.expect({name: "<dave> hi all, I am dave" for name in ("alice", "bob", "carol")})
    step("dave joins and speaks, two lines in one write")

    alice.send("/shout hey")
    alice.send("NICK alice2")
    chat.expect({"alice": ["! unknown command /shout", "! you are already alice"]})
    step("alice: unknown command, second NICK")

    alice.send_raw(b"\r\n\n")   # empty lines are ignored
    alice.send_raw(b"par")
    pump(chat.open_peers(), lambda: False, 0.05)
    alice.send_raw(b"tial line\r\n")
    chat.expect({name: "<alice> partial line" for name in ("bob", "carol", "dave")})
    step("empty lines, then a line in two writes")

    bob.send_raw(b"/quit\r\nthis is never relayed\r\n")
    chat.expect({"bob": "* bye"})
    chat.expect({name: "* bob left" for name in ("alice", "carol", "dave")})
    step("bob quits (and says something after /quit)", eof=["bob"])

    carol.drop()
    chat.expect({name: "* carol left" for name in ("alice", "dave")})
    step("carol drops her connection")

    dave.send("/who")
    chat.expect({"dave": "* users: alice dave"})
    step("dave asks /who")

    erin = chat.connect("erin")
    chat.expect({"erin": WELCOME})
    step("erin connects")
    erin.drop()
    chat.quiet("erin drops her connection before NICK (nobody is told)")

    frank = chat.connect("frank")
    frank.send("NICK carol")   # free again
    chat.expect({"frank": [WELCOME, "* carol joined"],
                 "alice": "* carol joined", "dave": "* carol joined"})
    step("a newcomer takes the nick carol, free again")

    dave.send("bye all")
    chat.expect({"alice": "<dave> bye all", "frank": "<dave> bye all"})
    step("dave says bye")

    chat.quiet("the end of the conversation")


# Servers -----------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_port(stdout_file, process, timeout):
    """Waits for "listening on 127.0.0.1:PORT" as the first line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stdout_file.seek(0)
        text = stdout_file.read().decode("utf-8", "replace")
        if "\n" in text:
            first = text.split("\n", 1)[0]
            prefix = "listening on 127.0.0.1:"
            if not first.startswith(prefix) or not first[len(prefix):].isdigit():
                raise Failure(f"unexpected first line: {first!r}")
            return int(first[len(prefix):])
        if process.poll() is not None:
            raise Failure(f"exited with status {process.returncode} before listening")
        time.sleep(0.02)
    raise Failure(f"did not print its port within {timeout} s")


def run_server(tap, label, argv, port_arg, client):
    """Runs one server through the whole test: 4 or 5 TAP points."""
    stdout_file = tempfile.TemporaryFile()
    stderr_file = tempfile.TemporaryFile()
    how = "no port argument"
    if port_arg == "free":
        port_arg = free_port()
        how = f"port argument {port_arg}, a free port"
    elif port_arg is not None:
        how = f"port argument {port_arg}"
    if port_arg is not None:
        argv = argv + [str(port_arg)]
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                               stdout=stdout_file, stderr=stderr_file)
    chat = None

    def server_output():
        out = []
        for name, f in (("stdout", stdout_file), ("stderr", stderr_file)):
            f.seek(0)
            text = f.read().decode("utf-8", "replace")
            if text:
                out.append(f"server {name}:\n{text}")
        return "\n".join(out)

    try:
        # 1. It listens where it says.
        try:
            port = read_port(stdout_file, process, STARTUP_TIMEOUT)
            if port_arg not in (None, 0) and port != port_arg:
                raise Failure(f"asked for port {port_arg}, listening on {port}")
            tap.result(True, f"{label}: prints the port it listens on ({how})")
        except Failure as e:
            tap.result(False, f"{label}: prints the port it listens on", f"{e}\n{server_output()}")
            port = None

        # 2. The conversation.
        if port is None:
            tap.result(False, f"{label}: conversation", "no server to talk to")
        else:
            chat = Chat(port, client)
            try:
                conversation(chat)
                tap.result(True, f"{label}: conversation (every client saw exactly the expected lines)")
            except Failure as e:
                tap.result(False, f"{label}: conversation", f"{e}\n{server_output()}")
            except Exception:
                tap.result(False, f"{label}: conversation",
                           f"{traceback.format_exc()}\n{server_output()}")

        # 3. SIGTERM: exit status 0, and the clients still connected see EOF.
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=EXIT_TIMEOUT)
            diag = None
            if chat is not None and status == 0:
                left = chat.open_peers()
                if not pump(left, lambda: all(p.eof for p in left), STEP_TIMEOUT):
                    diag = "still connected after the server exited: " + \
                        ", ".join(p.name for p in left if not p.eof)
            tap.result(status == 0 and diag is None,
                       f"{label}: exits with status 0 on SIGTERM",
                       diag or f"exit status {status}\n{server_output()}")
        except subprocess.TimeoutExpired:
            tap.result(False, f"{label}: exits with status 0 on SIGTERM",
                       f"still running {EXIT_TIMEOUT} s after SIGTERM\n{server_output()}")

        # 4. Nothing went wrong on the way (warnings, refused pushes, tracebacks).
        stderr_file.seek(0)
        errors = stderr_file.read().decode("utf-8", "replace")
        tap.result(errors == "", f"{label}: nothing on stderr", f"stderr:\n{errors}")

        # 5. The Vala client.
        if client is not None:
            peer = chat.peers.get("dave") if chat is not None else None
            if not isinstance(peer, ClientProcessPeer):
                tap.result(False, f"{label}: chat-client (Vala) exits with status 0",
                           "it did not take part")
            else:
                try:
                    status = peer.process.wait(timeout=EXIT_TIMEOUT)
                    chat.stderr_files[0].seek(0)
                    errors = chat.stderr_files[0].read().decode("utf-8", "replace")
                    tap.result(status == 0 and errors == "",
                               f"{label}: chat-client (Vala) exits with status 0 when the server shuts down",
                               f"exit status {status}, stderr:\n{errors}")
                except subprocess.TimeoutExpired:
                    tap.result(False, f"{label}: chat-client (Vala) exits with status 0",
                               f"still running {EXIT_TIMEOUT} s after the server exited")
    finally:
        if chat is not None:
            chat.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        stdout_file.close()
        stderr_file.close()


def main(argv):
    introspection = "--no-introspection" not in argv
    argv = [a for a in argv if a != "--no-introspection"]
    if len(argv) not in (3, 4):
        print(f"usage: {argv[0]} [--no-introspection] CHAT_SERVER SOURCE_DIR [CHAT_CLIENT]",
              file=sys.stderr)
        return 2
    server_exe, srcdir = os.path.abspath(argv[1]), argv[2]
    client = os.path.abspath(argv[3]) if len(argv) == 4 else None

    # Run by hand from a build tree: find the uninstalled library and typelib.
    build_achat = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(server_exe))), "achat")
    for var in ("GI_TYPELIB_PATH", "LD_LIBRARY_PATH"):
        os.environ.setdefault(var, build_achat)

    gjs = shutil.which("gjs")
    servers = [
        # label, argv or the reason to skip, port argument: none, 0, or
        # "free" (a port picked here)
        ("C chat-server", [server_exe], None),
        ("Python chat-server.py",
         [sys.executable, os.path.join(srcdir, "chat-server.py")] if introspection
         else "achat was built without introspection", "free"),
        ("GJS chat-server.js",
         "achat was built without introspection" if not introspection
         else [gjs, "-m", os.path.join(srcdir, "chat-server.js")] if gjs
         else "gjs not found", 0),
    ]
    per_server = 5 if client is not None else 4
    tap = Tap(per_server * len(servers))
    if client is None:
        tap.diag("no CHAT_CLIENT given: dave is a plain socket")

    for label, server_argv, port_arg in servers:
        if isinstance(server_argv, str):
            for _ in range(per_server):
                tap.skip(label, server_argv)
            continue
        run_server(tap, label, server_argv, port_arg, client)

    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
