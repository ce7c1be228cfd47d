#!/usr/bin/python3
# test-lsp-example.py: the JSON-RPC layer, the LSP client against clangd,
# and the MCP client against mcp-peer.py. Speaks TAP.
#
# Usage: test-lsp-example.py
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks examples/lsp/.

- lsp-client.py against the real clangd: the document symbols of the
  built-in sample (names, kinds, nesting), the diagnostics clangd
  publishes, its window/workDoneProgress/create request answered, shutdown
  and exit, clangd's exit status 0; a file given on the command line; the
  failure paths (a missing file, a "clangd" that exits at once).
- mcp-client.py against mcp-peer.py: the tool list, the echo tool's
  result (a text with a line break and non-ASCII), the notification sent
  before it, an error response, the peer's ping answered, its exit status.
- jsonrpc.py itself, against peers written here over pipes (the stream
  transport, as the clients use) and a socket pair: Content-Length framing
  split byte by byte, two messages in one read, extra headers and odd case,
  byte (not character) lengths, the maximum sizes, a missing Content-Length,
  malformed JSON, a message cut short by the end of the stream, responses
  and server requests, a handler that raises; newline framing: escaped
  line breaks, lines split and batched, malformed and unfinished lines,
  push_line()'s refusal.

Skipped as a whole when clangd is not installed. Every wait is bounded.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from taplib import Tap  # noqa: E402

RUN_TIMEOUT = 60.0
WAIT = 10.0

# The sample's symbols, as lsp-client.py prints them (kind, name, depth).
SAMPLE_SYMBOLS = """\
  Struct point
    Field x
    Field y
  Variable origin
  Function manhattan
  Function distance_from_origin
"""

OTHER_FILE = """\
enum color { RED, GREEN };
union value { int i; double d; };
static int counter = 0;
void tick(void) { counter++; }
"""
OTHER_SYMBOLS = """\
  Enum color
    EnumMember RED
    EnumMember GREEN
  Class value
    Field i
    Field d
  Variable counter
  Function tick
"""


def find_clangd():
    return os.environ.get("CLANGD") or shutil.which("clangd") or shutil.which("clangd-14")


def run_script(name, args=(), env=None):
    """Runs an example script; returns (status, stdout, stderr)."""
    try:
        result = subprocess.run([sys.executable, os.path.join(HERE, name), *args],
                                capture_output=True, timeout=RUN_TIMEOUT,
                                env=dict(os.environ, **(env or {})))
    except subprocess.TimeoutExpired as e:
        return None, (e.stdout or b"").decode("utf-8", "replace"), \
            f"still running after {RUN_TIMEOUT:.0f} s"
    return (result.returncode, result.stdout.decode("utf-8", "replace"),
            result.stderr.decode("utf-8", "replace"))


def section(output, header):
    """The indented lines after the line starting with header."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(header):
            block = []
            for following in lines[i + 1:]:
                if not following.startswith("  "):
                    break
                block.append(following)
            return "".join(line + "\n" for line in block)
    return None


class Checks:
    """Each check returns (ok, diagnostics); an exception is a failure."""

    def __init__(self, tap):
        self.tap = tap
        self._lsp = None
        self._mcp = None

    def run(self, description, check):
        try:
            ok, diagnostics = check()
        except Exception:
            ok, diagnostics = False, traceback.format_exc()
        self.tap.result(bool(ok), description, diagnostics)

    # lsp-client.py against clangd ---------------------------------

    def lsp(self):
        if self._lsp is None:
            self._lsp = run_script("lsp-client.py")
        return self._lsp

    def lsp_report(self):
        status, out, err = self.lsp()
        return f"status {status}\nstdout:\n{out}\nstderr:\n{err}"

    def lsp_runs(self):
        status, out, err = self.lsp()
        return status == 0 and out.startswith("server: clangd"), self.lsp_report()

    def lsp_symbols(self):
        _, out, _ = self.lsp()
        got = section(out, "symbols of sample.c:")
        return got == SAMPLE_SYMBOLS, f"got:\n{got}\nexpected:\n{SAMPLE_SYMBOLS}"

    def lsp_diagnostics(self):
        _, out, _ = self.lsp()
        ok = ("diagnostics: 1\n  17:9: warning: Unused variable 'unused'\n" in out)
        return ok, self.lsp_report()

    def lsp_server_request(self):
        _, out, _ = self.lsp()
        ok = ("server requests answered: 1\n"
              "  window/workDoneProgress/create backgroundIndexProgress: progress began"
              in out)
        return ok, self.lsp_report()

    def lsp_shutdown(self):
        status, out, _ = self.lsp()
        ok = status == 0 and out.endswith("shutdown: ok\nclangd exit status: 0\n")
        return ok, self.lsp_report()

    def lsp_file_argument(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "other.c")
            with open(path, "w") as f:
                f.write(OTHER_FILE)
            status, out, err = run_script("lsp-client.py", [path])
        got = section(out, "symbols of other.c:")
        ok = status == 0 and got == OTHER_SYMBOLS and "clangd exit status: 0" in out
        return ok, f"status {status}\ngot:\n{got}\nexpected:\n{OTHER_SYMBOLS}\n{out}\n{err}"

    def lsp_missing_file(self):
        status, out, err = run_script("lsp-client.py", ["/nonexistent/missing.c"])
        ok = status == 1 and "missing.c" in err and out == ""
        return ok, f"status {status}\nstdout {out!r}\nstderr {err!r}"

    def lsp_server_gone(self):
        # A "clangd" that exits at once: the channel closes before the
        # initialize reply, and the pending call gets the error.
        status, out, err = run_script("lsp-client.py", env={"CLANGD": "/bin/true"})
        ok = (status == 1 and "initialize: the channel closed before the reply" in err)
        return ok, f"status {status}\nstdout {out!r}\nstderr {err!r}"

    # mcp-client.py against mcp-peer.py --------------------------------

    def mcp(self):
        if self._mcp is None:
            self._mcp = run_script("mcp-client.py")
        return self._mcp

    def mcp_report(self):
        status, out, err = self.mcp()
        return f"status {status}\nstdout:\n{out}\nstderr:\n{err}"

    def mcp_runs(self):
        status, out, _ = self.mcp()
        ok = (status == 0 and out.startswith("server: mcp-peer 1.0 (protocol 2025-06-18)\n"
                                              "tools: echo\n"))
        return ok, self.mcp_report()

    def mcp_echo(self):
        _, out, _ = self.mcp()
        lines = [line for line in out.splitlines() if line.startswith("echo: ")]
        expected = 'hello\nworld \u2713 "quoted" \\ tab\tend'
        ok = len(lines) == 1 and json.loads(lines[0][len("echo: "):]) == expected
        return ok, self.mcp_report()

    def mcp_notification(self):
        _, out, _ = self.mcp()
        lines = out.splitlines()
        note = ('notification notifications/message: {"level":"info","logger":"echo",'
                '"data":"echo called with 32 characters"}')
        ok = (note in lines and any(line.startswith("echo: ") for line in lines)
              and lines.index(note) < [line.startswith("echo: ") for line in lines].index(True))
        return ok, self.mcp_report()

    def mcp_error(self):
        _, out, _ = self.mcp()
        return "nosuch: error -32602: tools/call: Unknown tool: nosuch\n" in out, \
            self.mcp_report()

    def mcp_peer_exit(self):
        status, out, err = self.mcp()
        ok = (status == 0 and "server requests answered: ping\n" in out
              and out.endswith("peer exit status: 0\n") and err == "")
        return ok, self.mcp_report()


# The framing layer, in this process --------------------------------------

def framing_checks(checks):
    import gi
    gi.require_version("Achat", "1.0")
    from gi.repository import Achat, Gio, GLib
    import jsonrpc
    from jsonrpc import ErrorCode, JsonRpc, RpcError, iterate_until

    escaped = []
    sys.excepthook = lambda kind, value, tb: escaped.append(
        "".join(traceback.format_exception(kind, value, tb)))

    class Peer:
        """The other end of a channel: raw fds, read through a GLib watch."""

        def __init__(self, transport, framing, **kwargs):
            if transport == "pipe":
                to_channel_r, self.write_fd = os.pipe()
                self.read_fd, from_channel_w = os.pipe()
                stream = Gio.SimpleIOStream.new(Gio.UnixInputStream.new(to_channel_r, True),
                                                Gio.UnixOutputStream.new(from_channel_w, True))
                channel = Achat.Channel.new_for_stream(stream)
            else:
                mine, theirs = socket.socketpair()
                channel = Achat.Channel.new(Gio.Socket.new_from_fd(theirs.detach()))
                self.write_fd = self.read_fd = mine.detach()
            os.set_blocking(self.read_fd, False)
            os.set_blocking(self.write_fd, False)
            self.received = b""
            self.eof = False
            self.watch = GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, self.read_fd,
                                               GLib.IOCondition.IN | GLib.IOCondition.HUP,
                                               self.on_readable)
            self.rpc = JsonRpc(channel, framing, **kwargs)
            self.closed = []
            self.rpc.on_closed = self.closed.append
            self.notifications = []
            self.rpc.on_notification(None, lambda method, params:
                                     self.notifications.append((method, params)))

        def on_readable(self, fd, condition):
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                return GLib.SOURCE_CONTINUE
            except OSError:
                data = b""
            if not data:
                self.eof = True
                self.watch = None
                return GLib.SOURCE_REMOVE
            self.received += data
            return GLib.SOURCE_CONTINUE

        def send(self, data):
            """Writes data, running the main loop while the pipe is full."""
            view = memoryview(data)
            while view:
                try:
                    view = view[os.write(self.write_fd, view):]
                except BlockingIOError:
                    self.wait_writable()

        def wait_writable(self):
            ready = []

            def on_writable(fd, condition):
                ready.append(condition)
                return GLib.SOURCE_REMOVE

            source = GLib.unix_fd_add_full(GLib.PRIORITY_DEFAULT, self.write_fd,
                                           GLib.IOCondition.OUT | GLib.IOCondition.ERR,
                                           on_writable)
            try:
                self.wait(lambda: ready, "room to write")
            finally:
                if not ready:
                    GLib.source_remove(source)

        def send_bytewise(self, data):
            """One byte per read of the channel."""
            channel = self.rpc.channel
            for i in range(len(data)):
                before = channel.get_bytes_received()
                self.send(data[i:i + 1])
                if not iterate_until(lambda: channel.get_bytes_received() > before
                                     or channel.is_closed(), WAIT):
                    raise AssertionError(f"byte {i} not read")

        def wait(self, predicate, what):
            if not iterate_until(predicate, WAIT):
                raise AssertionError(f"timed out waiting for {what}")

        def wait_closed(self):
            self.wait(lambda: self.closed, "the channel to close")
            return self.closed[0]

        def frames(self):
            """The Content-Length frames received so far (parsed with the
            standard library: an independent reading of the output)."""
            out, data = [], self.received
            while b"\r\n\r\n" in data:
                header, data = data.split(b"\r\n\r\n", 1)
                fields = dict(line.split(b": ", 1) for line in header.split(b"\r\n"))
                length = int(fields[b"Content-Length"])
                if len(data) < length:
                    break
                out.append(json.loads(data[:length].decode("utf-8")))
                data = data[length:]
            return out

        def finish(self):
            if not self.rpc.closed:
                self.rpc.close()
            if self.watch is not None:
                GLib.source_remove(self.watch)
            os.close(self.write_fd)
            if self.read_fd != self.write_fd:
                os.close(self.read_fd)

    def frame(body, header=None):
        body = body.encode("utf-8") if isinstance(body, str) else body
        if header is None:
            header = f"Content-Length: {len(body)}\r\n"
        return header.encode("ascii") + b"\r\n" + body

    def with_peer(transport, framing, body, **kwargs):
        def check():
            peer = Peer(transport, framing, **kwargs)
            try:
                return body(peer)
            finally:
                peer.finish()
        return check

    def is_error(error, domain, code):
        return error is not None and error.domain == domain and error.code == code

    note = '{"jsonrpc":"2.0","method":"textDocument/publishDiagnostics",' \
           '"params":{"uri":"file:///a.c","diagnostics":[]}}'

    def split_bytewise(peer):
        peer.send_bytewise(frame(note))
        peer.wait(lambda: peer.notifications, "the notification")
        ok = (peer.notifications == [("textDocument/publishDiagnostics",
                                      {"uri": "file:///a.c", "diagnostics": []})]
              and not peer.closed)
        return ok, f"{peer.notifications} closed {peer.closed}"

    def two_in_one_read(peer):
        replies = []
        peer.rpc.call("first", None, lambda result, error: replies.append((result, error)))
        peer.wait(lambda: peer.frames(), "the request")
        request_id = peer.frames()[0]["id"]
        peer.send(frame('{"jsonrpc":"2.0","id":%d,"result":{"n":1}}' % request_id)
                  + frame('{"jsonrpc":"2.0","id":"s1","method":"window/workDoneProgress/create",'
                          '"params":{"token":"t"}}'))
        peer.rpc.on_request("window/workDoneProgress/create", lambda params: None)
        peer.wait(lambda: len(peer.frames()) == 2, "the reply to the server's request")
        frames = peer.frames()
        ok = (replies == [({"n": 1}, None)]
              and frames[1] == {"jsonrpc": "2.0", "id": "s1", "result": None})
        return ok, f"replies {replies}\nframes {frames}"

    def odd_headers(peer):
        body = note.encode()
        peer.send(b"content-LENGTH:   %d  \r\nContent-Type: application/vscode-jsonrpc; "
                  b"charset=utf-8\r\nX-Other:\r\n\r\n" % len(body) + body)
        peer.wait(lambda: peer.notifications, "the notification")
        return len(peer.notifications) == 1 and not peer.closed, \
            f"{peer.notifications} {peer.closed}"

    def byte_lengths(peer):
        text = "caf\u00e9 \u2713 \U0001f600"
        peer.send(frame('{"jsonrpc":"2.0","method":"m","params":"%s"}' % text))
        peer.rpc.notify("reply", {"text": text})
        peer.wait(lambda: peer.notifications and peer.frames(), "both ways")
        ok = (peer.notifications == [("m", text)]
              and peer.frames() == [{"jsonrpc": "2.0", "method": "reply",
                                     "params": {"text": text}}])
        return ok, f"{peer.notifications}\n{peer.received!r}"

    def exact_size(peer):
        # A 100 KiB body with max_message_size exactly its size, then a
        # small one in the same write: the count terminator and the
        # max-input-size set from the header handler.
        big = '{"jsonrpc":"2.0","method":"big","params":"%s"}' % ("x" * (100 * 1024 - 40))
        big = big.encode()
        peer.rpc.max_message_size = len(big)
        peer.send(frame(big) + frame(note))
        peer.wait(lambda: len(peer.notifications) == 2 or peer.closed, "two notifications")
        ok = ([m for m, _ in peer.notifications] == ["big", "textDocument/publishDiagnostics"]
              and len(peer.notifications[0][1]) == 100 * 1024 - 40 and not peer.closed)
        return ok, f"{[m for m, _ in peer.notifications]} closed {peer.closed}"

    def missing_length(peer):
        replies = []
        peer.rpc.call("initialize", {}, lambda result, error: replies.append(error))
        peer.send(b"Content-Type: application/vscode-jsonrpc\r\n\r\n{}")
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.INVALID_HEADER)
              and "without Content-Length" in error.message
              and len(replies) == 1 and is_error(replies[0], jsonrpc.ERROR_DOMAIN,
                                                 ErrorCode.CLOSED)
              and "without Content-Length" in replies[0].message)
        return ok, f"closed with {error}\ncall got {replies}"

    def malformed_json(peer):
        peer.send(frame('{"jsonrpc":"2.0","method":'))
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.PARSE)
              and "malformed JSON" in error.message and not peer.notifications)
        return ok, f"closed with {error}"

    def too_large(peer):
        peer.send(b"Content-Length: 5000\r\n\r\n")   # announced, body never sent
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.TOO_LARGE)
              and "5000" in error.message)
        return ok, f"closed with {error}"

    def header_too_long(peer):
        peer.send(b"X-Junk: " + b"a" * 10000)
        error = peer.wait_closed()
        ok = is_error(error, "achat-error-quark", int(Achat.Error.INPUT_LIMIT))
        return ok, f"closed with {error}"

    def not_jsonrpc(peer):
        peer.send(frame('[{"jsonrpc":"2.0","method":"a"}]'))
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.INVALID_MESSAGE)
              and "batch" in error.message)
        return ok, f"closed with {error}"

    def responses(peer):
        replies = []
        peer.rpc.call("a", [1], lambda result, error: replies.append((result, error)))
        peer.rpc.call("b", None, lambda result, error: replies.append((result, error)))
        peer.wait(lambda: len(peer.frames()) == 2, "two requests")
        first, second = peer.frames()
        peer.send(frame('{"jsonrpc":"2.0","id":%d,"error":{"code":-32001,"message":"nope",'
                        '"data":{"why":"testing"}}}' % second["id"])
                  + frame('{"jsonrpc":"2.0","id":%d,"result":[true,null,1.5,"s"]}'
                          % first["id"]))
        peer.wait(lambda: len(replies) == 2, "both replies")
        (r1, e1), (r2, e2) = replies
        ok = (first["params"] == [1] and "params" not in second
              and r1 is None and is_error(e1, jsonrpc.REMOTE_ERROR_DOMAIN, -32001)
              and e1.message == "b: nope" and e1.data == {"why": "testing"}
              and r2 == [True, None, 1.5, "s"] and e2 is None)
        return ok, f"{replies}"

    def server_requests(peer):
        def fails(params):
            raise RpcError(-32099, "refused", {"p": params})
        peer.rpc.on_request("fails", fails)
        peer.rpc.on_request("crashes", lambda params: 1 / 0)
        peer.rpc.on_request("echo", lambda params: params)
        peer.send(frame('{"jsonrpc":"2.0","id":1,"method":"nosuch"}')
                  + frame('{"jsonrpc":"2.0","id":2,"method":"fails","params":[7]}')
                  + frame('{"jsonrpc":"2.0","id":3,"method":"crashes"}')
                  + frame('{"jsonrpc":"2.0","id":4,"method":"echo","params":{"a":[]}}'))
        peer.wait(lambda: len(peer.frames()) == 4, "four replies")
        f = peer.frames()
        ok = (f[0]["error"]["code"] == -32601
              and f[1]["error"] == {"code": -32099, "message": "refused", "data": {"p": [7]}}
              and f[2]["error"]["code"] == -32603 and "ZeroDivisionError" in f[2]["error"]["message"]
              and f[3] == {"jsonrpc": "2.0", "id": 4, "result": {"a": []}}
              and not peer.closed)
        return ok, f"{f}"

    def handler_raises(peer):
        peer.rpc.on_notification("boom", lambda params: [][1])
        peer.send(frame('{"jsonrpc":"2.0","method":"boom"}'))
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.HANDLER_FAILED)
              and "IndexError" in error.message)
        return ok, f"closed with {error}"

    # Newline framing.

    def newline_escaped(peer):
        text = "two\nlines\r\nand a \u2028 separator"
        peer.rpc.notify("say", {"text": text})
        peer.wait(lambda: peer.received.endswith(b"\n"), "a line")
        line = peer.received
        ok = (line.count(b"\n") == 1 and b"\r" not in line and b"\\n" in line
              and json.loads(line) == {"jsonrpc": "2.0", "method": "say",
                                       "params": {"text": text}})
        return ok, f"{line!r}"

    def newline_input(peer):
        peer.send_bytewise(b'{"jsonrpc":"2.0","method":"a","params":"x\\ny"}\n')
        peer.send(b'{"jsonrpc":"2.0","method":"b"}\r\n\n   \n{"jsonrpc":"2.0","method":"c"}\n')
        peer.wait(lambda: len(peer.notifications) == 3 or peer.closed, "three notifications")
        ok = (peer.notifications == [("a", "x\ny"), ("b", None), ("c", None)]
              and not peer.closed)
        return ok, f"{peer.notifications} {peer.closed}"

    def newline_malformed(peer):
        peer.send(b'{"jsonrpc":"2.0","method":"a"}\n{"jsonrpc":\n')
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.PARSE)
              and peer.notifications == [("a", None)])
        return ok, f"closed with {error}, {peer.notifications}"

    def newline_too_long(peer):
        peer.send(b'{"jsonrpc":"2.0","method":"' + b"a" * 2000)
        error = peer.wait_closed()
        return is_error(error, "achat-error-quark", int(Achat.Error.INPUT_LIMIT)), \
            f"closed with {error}"

    def push_line_refuses(peer):
        try:
            peer.rpc.channel.push_line(b'{"a":"x\ny"}')
            refused = None
        except GLib.Error as e:
            refused = e
        peer.rpc.notify("after", None)
        peer.wait(lambda: peer.received.endswith(b"\n"), "a line")
        ok = (refused is not None and refused.matches(Achat.error_quark(),
                                                        Achat.Error.INVALID_LINE)
              and peer.received == b'{"jsonrpc":"2.0","method":"after"}\n')
        return ok, f"refused {refused}, sent {peer.received!r}"

    def peer_eof(peer):
        replies = []
        peer.rpc.call("pending", None, lambda result, error: replies.append(error))
        os.close(peer.write_fd)
        peer.write_fd = os.open(os.devnull, os.O_WRONLY)
        error = peer.wait_closed()
        ok = (error is None and len(replies) == 1
              and is_error(replies[0], jsonrpc.ERROR_DOMAIN, ErrorCode.CLOSED)
              and "closed by the peer" in replies[0].message)
        return ok, f"closed with {error}, call got {replies}"

    def truncated(peer):
        peer.send(b"Content-Length: 100\r\n\r\n{\"jsonrpc\"")
        os.close(peer.write_fd)
        peer.write_fd = os.open(os.devnull, os.O_WRONLY)
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.TRUNCATED)
              and "10 bytes" in error.message)
        return ok, f"closed with {error}"

    def newline_truncated(peer):
        peer.send(b'{"jsonrpc":"2.0","method":"a"}\n{"jsonrpc":"2.0","method":"b"}')
        os.close(peer.write_fd)
        peer.write_fd = os.open(os.devnull, os.O_WRONLY)
        error = peer.wait_closed()
        ok = (is_error(error, jsonrpc.ERROR_DOMAIN, ErrorCode.TRUNCATED)
              and peer.notifications == [("a", None)])
        return ok, f"closed with {error}, {peer.notifications}"

    cl, nl = "content-length", "newline"
    return [
        ("content-length: a message split across reads, byte by byte (pipes)",
         with_peer("pipe", cl, split_bytewise)),
        ("content-length: a message split across reads, byte by byte (socket pair)",
         with_peer("socket", cl, split_bytewise)),
        ("content-length: a response and a server request in one read; the request answered",
         with_peer("pipe", cl, two_in_one_read)),
        ("content-length: extra headers, odd case, spaces around the length",
         with_peer("pipe", cl, odd_headers)),
        ("content-length: lengths in bytes, not characters, both ways",
         with_peer("pipe", cl, byte_lengths)),
        ("content-length: a 100 KiB body exactly at max_message_size, then another message",
         with_peer("pipe", cl, exact_size)),
        ("content-length: no Content-Length header: closed with INVALID_HEADER, "
         "the pending call told",
         with_peer("pipe", cl, missing_length)),
        ("content-length: malformed JSON: closed with PARSE",
         with_peer("pipe", cl, malformed_json)),
        ("content-length: a body announced over max_message_size: closed with TOO_LARGE "
         "at its header",
         with_peer("pipe", cl, too_large, max_message_size=1000)),
        ("content-length: a header block over max_header_size: closed with INPUT_LIMIT",
         with_peer("pipe", cl, header_too_long)),
        ("content-length: a batch (a JSON array): closed with INVALID_MESSAGE",
         with_peer("pipe", cl, not_jsonrpc)),
        ("responses matched by id: a result and an error response (code, message, data)",
         with_peer("pipe", cl, responses)),
        ("server requests: method not found, RpcError, a handler that raises, a result",
         with_peer("pipe", cl, server_requests)),
        ("a notification handler that raises: closed with HANDLER_FAILED",
         with_peer("pipe", cl, handler_raises)),
        ("the peer closes: closed without error, the pending call told",
         with_peer("pipe", cl, peer_eof)),
        ("content-length: the peer closes in the middle of a body: closed with TRUNCATED",
         with_peer("pipe", cl, truncated)),
        ("newline: line breaks in strings are escaped by json-glib: one line",
         with_peer("pipe", nl, newline_escaped)),
        ("newline: a line byte by byte, then \\r\\n, blank lines and two lines in one read",
         with_peer("pipe", nl, newline_input)),
        ("newline: a malformed line: closed with PARSE after the line before",
         with_peer("pipe", nl, newline_malformed)),
        ("newline: a line over max_message_size: closed with INPUT_LIMIT",
         with_peer("socket", nl, newline_too_long, max_message_size=1000)),
        ("newline: the peer closes after half a line: closed with TRUNCATED",
         with_peer("pipe", nl, newline_truncated)),
        ("newline: push_line() refuses a raw line break, nothing queued",
         with_peer("pipe", nl, push_line_refuses)),
    ], escaped


def main():
    if find_clangd() is None:
        print("1..0 # SKIP clangd not installed", flush=True)
        return 0

    tap = Tap()
    checks = Checks(tap)
    end_to_end = [
        ("lsp-client.py runs against clangd and exits 0", checks.lsp_runs),
        ("documentSymbol: the sample's symbols, kinds and nesting", checks.lsp_symbols),
        ("publishDiagnostics: the unused variable warning", checks.lsp_diagnostics),
        ("clangd's window/workDoneProgress/create answered; its progress began",
         checks.lsp_server_request),
        ("shutdown returns null, exit ends clangd with status 0", checks.lsp_shutdown),
        ("lsp-client.py FILE.c: an enum, a union, a variable and a function",
         checks.lsp_file_argument),
        ("lsp-client.py with a missing file: exit status 1", checks.lsp_missing_file),
        ("lsp-client.py with a server that exits at once: exit status 1, the call told",
         checks.lsp_server_gone),
        ("mcp-client.py against mcp-peer.py: initialize, tools/list", checks.mcp_runs),
        ("mcp: tools/call echo returns the text (line break, non-ASCII, quotes)",
         checks.mcp_echo),
        ("mcp: the peer's notification, dispatched before the result", checks.mcp_notification),
        ("mcp: an unknown tool: an error response", checks.mcp_error),
        ("mcp: the peer's ping answered; it exits 0 at the end of its input",
         checks.mcp_peer_exit),
    ]
    framing, escaped = framing_checks(checks)
    tap.plan(len(end_to_end) + len(framing) + 1)
    for description, check in end_to_end + framing:
        checks.run(description, check)
    tap.result(not escaped, "no Python exception escaped into the main loop",
               "\n".join(escaped))
    return 1 if tap.failed else 0


if __name__ == "__main__":
    sys.exit(main())
