#!/usr/bin/python3
# mcp-client.py: calls the "echo" tool of mcp-peer.py over MCP's stdio transport
#
# Usage: mcp-client.py [TEXT]   (default: a text with a line break and non-ASCII)
#
# Starts mcp-peer.py (next to this script) with Gio.Subprocess, runs an
# Achat.Channel over its standard input and output, and speaks newline-
# delimited JSON-RPC through jsonrpc.py: initialize, the
# notifications/initialized notification, tools/list, tools/call echo with
# TEXT (printed as a JSON string, so the output stays one line), and a call
# of a tool that does not exist (an error response). It answers the peer's
# "ping", prints the notifications it gets, then closes the peer's
# standard input and checks that the peer exited with status 0. Exit
# status: 0 on success, 1 on any failure.
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from jsonrpc import JsonRpc, iterate_until, to_node, wait_subprocess  # noqa: E402

from gi.repository import Gio, Json  # noqa: E402

TIMEOUT = 30.0
DEFAULT_TEXT = 'hello\nworld \u2713 "quoted" \\ tab\tend'


class Failure(Exception):
    pass


def json_string(text):
    return Json.to_string(to_node(text), False)


def main(argv):
    if len(argv) > 2:
        print(f"usage: {argv[0]} [TEXT]", file=sys.stderr)
        return 2
    text = argv[1] if len(argv) == 2 else DEFAULT_TEXT

    launcher = Gio.SubprocessLauncher.new(Gio.SubprocessFlags.STDIN_PIPE
                                          | Gio.SubprocessFlags.STDOUT_PIPE)
    process = launcher.spawnv([sys.executable, os.path.join(HERE, "mcp-peer.py")])
    rpc = JsonRpc.new_for_stream(
        Gio.SimpleIOStream.new(process.get_stdout_pipe(), process.get_stdin_pipe()), "newline")
    closed = []
    rpc.on_closed = closed.append
    answered = []

    def on_ping(params):
        answered.append("ping")
        return {}

    rpc.on_request("ping", on_ping)
    rpc.on_notification(None, lambda method, params: print(
        f"notification {method}: {json_string(params)}"))

    def request(method, params, allow_error=False):
        replies = []
        rpc.call(method, params, lambda result, error: replies.append((result, error)))
        if not iterate_until(lambda: replies, TIMEOUT):
            raise Failure(f"{method}: no reply within {TIMEOUT:.0f} s")
        result, error = replies[0]
        if error is not None and not allow_error:
            raise Failure(error.message)
        return replies[0]

    try:
        result, _ = request("initialize", {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "achat-mcp-client", "version": "1.0"},
        })
        info = result.get("serverInfo") or {}
        print(f"server: {info.get('name')} {info.get('version')} "
              f"(protocol {result.get('protocolVersion')})")
        rpc.notify("notifications/initialized")

        result, _ = request("tools/list", {})
        print("tools: " + " ".join(tool["name"] for tool in result["tools"]))

        result, _ = request("tools/call", {"name": "echo", "arguments": {"text": text}})
        for item in result["content"]:
            if item["type"] == "text":
                print(f"echo: {json_string(item['text'])}")
        if result.get("isError"):
            raise Failure("the echo tool reported an error")

        _, error = request("tools/call", {"name": "nosuch", "arguments": {}}, allow_error=True)
        if error is None:
            raise Failure("calling a tool that does not exist succeeded")
        print(f"nosuch: error {error.code}: {error.message}")
        print("server requests answered: " + (" ".join(answered) or "none"))

        # MCP's stdio shutdown: close the server's standard input and wait.
        rpc.close_when_done()
        if not iterate_until(lambda: closed, TIMEOUT):
            raise Failure("the channel did not close")
        if closed[0] is not None:
            raise Failure(f"the channel closed with an error: {closed[0].message}")
        if not wait_subprocess(process, TIMEOUT):
            raise Failure(f"the peer was still running {TIMEOUT:.0f} s after its input closed")
        status = process.get_exit_status() if process.get_if_exited() else -1
        print(f"peer exit status: {status}")
        if status != 0:
            raise Failure(f"the peer exited with status {status}")
        return 0
    except Failure as e:
        print(f"mcp-client: {e}", file=sys.stderr)
        if rpc.error is not None and rpc.error.message not in str(e):
            print(f"mcp-client: {rpc.error.message}", file=sys.stderr)
        rpc.close()
        process.force_exit()
        wait_subprocess(process, 5.0)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
