#!/usr/bin/python3
# mcp-peer.py: a small scripted MCP-like server on standard input and output
#
# Usage: mcp-peer.py   (run by mcp-client.py; plain Python, no achat)
#
# Newline-delimited JSON-RPC 2.0, as MCP's stdio transport: answers
# initialize, tools/list (one tool, "echo") and tools/call; sends a
# notifications/message before each echo result; after
# notifications/initialized, asks the client a "ping" of its own. Exits at
# the end of its standard input: status 0 if the client answered the ping
# and every line it sent was one well-formed JSON-RPC message, 3 otherwise
# (the reason on standard error).
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

import json
import sys

PROTOCOL_VERSION = "2025-06-18"
PING_ID = "peer-ping-1"

ECHO_TOOL = {
    "name": "echo",
    "description": "Returns its text argument unchanged.",
    "inputSchema": {
        "type": "object",
        "properties": {"text": {"type": "string"}},
        "required": ["text"],
    },
}


def send(message):
    # ensure_ascii=False: non-ASCII text goes out as UTF-8, as most servers do.
    sys.stdout.buffer.write(json.dumps(message, ensure_ascii=False).encode("utf-8") + b"\n")
    sys.stdout.buffer.flush()


def reply(request, result=None, error=None):
    message = {"jsonrpc": "2.0", "id": request["id"]}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result
    send(message)


def main():
    problems = []
    ping_answered = False
    for line in sys.stdin.buffer:
        if not line.endswith(b"\n"):
            problems.append(f"a last line without a newline: {line[:200]!r}")
        try:
            message = json.loads(line)
        except ValueError as e:
            problems.append(f"not one JSON message per line: {e}: {line[:200]!r}")
            send({"jsonrpc": "2.0", "id": None,
                  "error": {"code": -32700, "message": f"parse error: {e}"}})
            continue
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            problems.append(f"not a JSON-RPC 2.0 message: {line[:200]!r}")
            continue
        method = message.get("method")
        if method is None:  # a response to our ping
            if message.get("id") == PING_ID and message.get("result") == {}:
                ping_answered = True
            else:
                problems.append(f"an unexpected response: {line[:200]!r}")
        elif method == "initialize":
            reply(message, {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {"tools": {"listChanged": False}, "logging": {}},
                "serverInfo": {"name": "mcp-peer", "version": "1.0"},
            })
        elif method == "notifications/initialized":
            send({"jsonrpc": "2.0", "id": PING_ID, "method": "ping"})
        elif method == "tools/list":
            reply(message, {"tools": [ECHO_TOOL]})
        elif method == "tools/call":
            params = message.get("params") or {}
            arguments = params.get("arguments") or {}
            if params.get("name") != "echo":
                reply(message, error={"code": -32602,
                                      "message": f"Unknown tool: {params.get('name')}"})
            elif not isinstance(arguments.get("text"), str):
                reply(message, error={"code": -32602, "message": "echo: text is required"})
            else:
                text = arguments["text"]
                send({"jsonrpc": "2.0", "method": "notifications/message",
                      "params": {"level": "info", "logger": "echo",
                                 "data": f"echo called with {len(text)} characters"}})
                reply(message, {"content": [{"type": "text", "text": text}],
                                "isError": False})
        elif "id" in message:
            reply(message, error={"code": -32601, "message": f"Method not found: {method}"})
    if not ping_answered:
        problems.append("the client never answered the ping")
    for problem in problems:
        print(f"mcp-peer: {problem}", file=sys.stderr)
    return 3 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
