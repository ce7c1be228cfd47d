#!/usr/bin/python3
# lsp-client.py: lists the symbols of a C file, asking clangd over LSP
#
# Usage: lsp-client.py [FILE.c]   (default: a built-in sample)
#
# Starts clangd (CLANGD in the environment, else clangd on PATH) with its
# standard input and output as pipes, runs an Achat.Channel over them and
# speaks the Language Server Protocol through jsonrpc.py: initialize,
# initialized, textDocument/didOpen, textDocument/documentSymbol (printed),
# shutdown and exit; then checks that clangd exited with status 0. Prints
# what the server published as diagnostics too. Exit status: 0 on success,
# 1 on any failure, 2 on a usage error.
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jsonrpc import JsonRpc, iterate_until, to_node, wait_subprocess  # noqa: E402

from gi.repository import Gio, GLib, Json  # noqa: E402

TIMEOUT = 30.0          # seconds for each reply, and for clangd to exit
DIAGNOSTICS_TIMEOUT = 5.0

SAMPLE = """\
struct point {
    int x;
    int y;
};

static const struct point origin = { 0, 0 };

int manhattan(const struct point *a, const struct point *b)
{
    int dx = a->x > b->x ? a->x - b->x : b->x - a->x;
    int dy = a->y > b->y ? a->y - b->y : b->y - a->y;
    return dx + dy;
}

int distance_from_origin(const struct point *p)
{
    int unused;
    return manhattan(&origin, p);
}
"""

# LSP's SymbolKind.
SYMBOL_KINDS = {
    1: "File", 2: "Module", 3: "Namespace", 4: "Package", 5: "Class", 6: "Method",
    7: "Property", 8: "Field", 9: "Constructor", 10: "Enum", 11: "Interface",
    12: "Function", 13: "Variable", 14: "Constant", 15: "String", 16: "Number",
    17: "Boolean", 18: "Array", 19: "Object", 20: "Key", 21: "Null", 22: "EnumMember",
    23: "Struct", 24: "Event", 25: "Operator", 26: "TypeParameter",
}
SEVERITIES = {1: "error", 2: "warning", 3: "information", 4: "hint"}


class Failure(Exception):
    pass


def find_clangd():
    return os.environ.get("CLANGD") or shutil.which("clangd") or shutil.which("clangd-14")


class LspSession:
    def __init__(self, clangd, workdir):
        launcher = Gio.SubprocessLauncher.new(Gio.SubprocessFlags.STDIN_PIPE
                                              | Gio.SubprocessFlags.STDOUT_PIPE)
        # clangd logs to standard error: keep it, for when something fails.
        self.log_path = os.path.join(workdir, "clangd.log")
        launcher.set_stderr_file_path(self.log_path)
        launcher.set_cwd(workdir)
        self.process = launcher.spawnv([clangd, "--log=error", "--pch-storage=memory"])
        stream = Gio.SimpleIOStream.new(self.process.get_stdout_pipe(),
                                        self.process.get_stdin_pipe())
        self.rpc = JsonRpc.new_for_stream(stream, "content-length")
        self.rpc.on_closed = self.on_closed
        self.channel_closed = False
        self.server_requests = []
        self.diagnostics = {}
        self.notifications = []
        # clangd asks to create progress tokens when the client supports
        # work-done progress; the answer is a null result.
        self.rpc.on_request("window/workDoneProgress/create", self.on_progress_create)
        self.rpc.on_notification("textDocument/publishDiagnostics", self.on_diagnostics)
        self.rpc.on_notification("$/progress", self.on_progress)
        self.rpc.on_notification(None, lambda method, params: self.notifications.append(method))
        self.progress = {}  # token -> the "kind"s of its $/progress reports

    def on_closed(self, error):
        self.channel_closed = True
        self.close_error = error

    def on_progress_create(self, params):
        self.server_requests.append(("window/workDoneProgress/create", params["token"]))
        self.progress[params["token"]] = []
        return None

    def on_progress(self, params):
        kinds = self.progress.setdefault(params["token"], [])
        value = params.get("value") or {}
        kinds.append(value.get("kind"))
        if value.get("kind") == "begin":
            kinds.append(value.get("title"))

    def on_diagnostics(self, params):
        self.diagnostics[params["uri"]] = params["diagnostics"]

    def request(self, method, params):
        """Sends a request and waits (bounded) for its reply."""
        replies = []
        self.rpc.call(method, params, lambda result, error: replies.append((result, error)))
        if not iterate_until(lambda: replies, TIMEOUT):
            raise Failure(f"{method}: no reply within {TIMEOUT:.0f} s")
        result, error = replies[0]
        if error is not None:
            raise Failure(error.message)
        return result

    def wait_exit(self):
        """Waits (bounded) for clangd to exit; returns its exit status."""
        if not wait_subprocess(self.process, TIMEOUT):
            self.kill()
            raise Failure(f"clangd still running {TIMEOUT:.0f} s after exit; killed")
        if not self.process.get_if_exited():
            raise Failure(f"clangd killed by signal {self.process.get_term_sig()}")
        return self.process.get_exit_status()

    def kill(self):
        self.process.force_exit()
        wait_subprocess(self.process, 5.0)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def print_symbols(symbols, depth=1):
    for symbol in symbols:
        kind = SYMBOL_KINDS.get(symbol.get("kind"), f"kind-{symbol.get('kind')}")
        print(f"{'  ' * depth}{kind} {symbol.get('name')}")
        print_symbols(symbol.get("children") or [], depth + 1)


def run(source_path, text, clangd, workdir):
    session = LspSession(clangd, workdir)
    uri = GLib.filename_to_uri(source_path, None)
    try:
        result = session.request("initialize", {
            "processId": os.getpid(),
            "clientInfo": {"name": "achat-lsp-client", "version": "1.0"},
            "rootUri": GLib.filename_to_uri(workdir, None),
            "capabilities": {
                "textDocument": {
                    "documentSymbol": {"hierarchicalDocumentSymbolSupport": True,
                                       "symbolKind": {"valueSet": list(SYMBOL_KINDS)}},
                    "publishDiagnostics": {},
                },
                # clangd 14 reads the symbol kinds a client knows from
                # workspace.symbol, even for documentSymbol: without this
                # it keeps to LSP 1.0's kinds (1 to 18) and reports a
                # struct as a Class.
                "workspace": {"symbol": {"symbolKind": {"valueSet": list(SYMBOL_KINDS)}}},
                "window": {"workDoneProgress": True},
            },
        })
        info = result.get("serverInfo") or {}
        print(f"server: {info.get('name', '?')} {info.get('version', '')}".rstrip())
        if not (result.get("capabilities") or {}).get("documentSymbolProvider"):
            raise Failure("the server does not provide document symbols")
        session.rpc.notify("initialized", {})
        session.rpc.notify("textDocument/didOpen", {
            "textDocument": {"uri": uri, "languageId": "c", "version": 1, "text": text},
        })

        symbols = session.request("textDocument/documentSymbol",
                                  {"textDocument": {"uri": uri}})
        print(f"symbols of {os.path.basename(source_path)}:")
        print_symbols(symbols or [])

        # Diagnostics come as a notification, after the file was parsed.
        iterate_until(lambda: uri in session.diagnostics, DIAGNOSTICS_TIMEOUT)
        diagnostics = session.diagnostics.get(uri)
        if diagnostics is None:
            print("diagnostics: none published")
        else:
            print(f"diagnostics: {len(diagnostics)}")
            for d in diagnostics:
                start = d["range"]["start"]
                print(f"  {start['line'] + 1}:{start['character'] + 1}: "
                      f"{SEVERITIES.get(d.get('severity'), 'note')}: {d['message']}")
        # clangd (with background indexing) asks to create a progress token,
        # and reports progress on it once the client answered.
        print(f"server requests answered: {len(session.server_requests)}")
        for method, token in session.server_requests:
            iterate_until(lambda: "begin" in session.progress[token], DIAGNOSTICS_TIMEOUT)
            reports = session.progress[token]
            title = reports[reports.index("begin") + 1] if "begin" in reports else None
            print(f"  {method} {token}: progress "
                  + (f"began ({title})" if title is not None else "never began"))

        result = session.request("shutdown", None)
        if result is not None:
            raise Failure(f"shutdown: expected a null result, got {result!r}")
        print("shutdown: ok")
        session.rpc.notify("exit")
        # clangd exits, which closes its standard output: the channel ends.
        if not iterate_until(lambda: session.channel_closed, TIMEOUT):
            raise Failure(f"clangd did not close its output {TIMEOUT:.0f} s after exit")
        if session.close_error is not None:
            raise Failure(f"the channel closed with an error: {session.close_error.message}")
        status = session.wait_exit()
        print(f"clangd exit status: {status}")
        if status != 0:
            raise Failure(f"clangd exited with status {status}")
        return 0
    except Failure as e:
        print(f"lsp-client: {e}", file=sys.stderr)
        if session.rpc.error is not None and session.rpc.error.message not in str(e):
            print(f"lsp-client: {session.rpc.error.message}", file=sys.stderr)
        log = session.log().strip()
        if log:
            print("clangd's standard error:\n" + log, file=sys.stderr)
        session.rpc.close()
        session.kill()
        return 1


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print(f"usage: {argv[0]} [FILE.c]", file=sys.stderr)
        return 2
    clangd = find_clangd()
    if clangd is None:
        print("lsp-client: clangd not found (set CLANGD)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="achat-lsp-") as workdir:
        if len(argv) == 2:
            try:
                with open(argv[1], encoding="utf-8") as f:
                    text = f.read()
            except (OSError, UnicodeDecodeError) as e:
                print(f"lsp-client: {argv[1]}: {e}", file=sys.stderr)
                return 1
            name = os.path.basename(argv[1])
        else:
            text, name = SAMPLE, "sample.c"
        # The file as the server sees it: in the workspace, with flags.
        source_path = os.path.join(workdir, name)
        with open(source_path, "w", encoding="utf-8") as f:
            f.write(text)
        # A compilation database (rather than compile_flags.txt) also makes
        # clangd index the file in the background, and report progress.
        with open(os.path.join(workdir, "compile_commands.json"), "w", encoding="utf-8") as f:
            f.write(Json.to_string(to_node([{
                "directory": workdir, "file": source_path,
                "arguments": ["cc", "-std=c11", "-Wall", "-c", source_path],
            }]), True))
        return run(source_path, text, clangd, workdir)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
