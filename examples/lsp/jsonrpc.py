# jsonrpc.py: JSON-RPC 2.0 over an Achat.Channel (LSP and MCP framings)
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small JSON-RPC 2.0 endpoint over an Achat.Channel.

Two framings, chosen at construction:

- ``"content-length"`` (the Language Server Protocol): a header block
  ending with ``"\\r\\n\\r\\n"`` that must contain ``Content-Length``
  (any case; other headers such as ``Content-Type`` are ignored), then
  that many bytes of JSON. The channel's terminator alternates between
  the header terminator and a byte count.
- ``"newline"`` (MCP's stdio transport): one JSON message per line. Output
  goes through ``push_line()``, which refuses a line containing a raw
  newline; json-glib's generator (without pretty printing) escapes
  newlines in strings, so a message is always one line.

JSON is parsed and generated with json-glib (``Json.from_string()``,
``Json.to_string()``); parameters and results are handed to and from the
application as plain Python values (dict, list, str, int, float, bool,
None), converted through ``Json.Node``.

Bad input (malformed JSON, a header block without Content-Length, a
message over ``max_message_size``, something that is not a JSON-RPC 2.0
message, a message cut short by the end of the stream) closes the channel; ``on_closed(error)`` then receives a
``GLib.Error`` in the ``achat-jsonrpc-error-quark`` domain saying what was
wrong, and every pending call's callback receives an error. Nothing raised
while handling input escapes into the main loop.

Usage::

    rpc = JsonRpc(Achat.Channel.new_for_stream(stream), "content-length")
    rpc.on_notification("textDocument/publishDiagnostics", on_diagnostics)
    rpc.on_request("window/workDoneProgress/create", lambda params: None)
    rpc.on_closed = lambda error: ...
    rpc.call("initialize", {...}, lambda result, error: ...)
    rpc.notify("initialized", {})
"""

import time
import traceback

import gi

gi.require_version("Achat", "1.0")
gi.require_version("Json", "1.0")
from gi.repository import Achat, GLib, GObject, Json  # noqa: E402

__all__ = ["JsonRpc", "RpcError", "ERROR_DOMAIN", "REMOTE_ERROR_DOMAIN", "ErrorCode",
           "to_node", "from_node", "iterate_until", "wait_subprocess"]

# Errors found by this side: bad input, a closed channel, a failed handler.
ERROR_DOMAIN = "achat-jsonrpc-error-quark"
# Error responses from the peer: the code is the JSON-RPC error code, and
# the error's `data` attribute holds the response's "data" member, if any.
REMOTE_ERROR_DOMAIN = "achat-jsonrpc-remote-error-quark"

ERROR_QUARK = GLib.quark_from_string(ERROR_DOMAIN)
REMOTE_ERROR_QUARK = GLib.quark_from_string(REMOTE_ERROR_DOMAIN)


class ErrorCode:
    """Codes of ERROR_DOMAIN."""
    PARSE = 1            # the input is not JSON (or not UTF-8)
    INVALID_HEADER = 2   # a header block without a usable Content-Length
    TOO_LARGE = 3        # a message over max_message_size (or a header block too long)
    INVALID_MESSAGE = 4  # JSON, but not a JSON-RPC 2.0 message
    CLOSED = 5           # the channel closed while a call was pending
    HANDLER_FAILED = 6   # an application callback raised
    TRUNCATED = 7        # the peer closed in the middle of a message


# JSON-RPC 2.0 error codes, for replies to the peer's requests.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class RpcError(Exception):
    """Raised by a request handler to answer with a JSON-RPC error."""

    def __init__(self, code, message, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def local_error(code, message):
    return GLib.Error.new_literal(ERROR_QUARK, message, code)


def remote_error(code, message, data=None):
    error = GLib.Error.new_literal(REMOTE_ERROR_QUARK, message, code)
    error.data = data
    return error


# Python values <-> Json.Node ---------------------------------------------

def to_node(value):
    """A Json.Node for a Python value (a Json.Node is returned as is)."""
    if isinstance(value, Json.Node):
        return value
    if value is None:
        return Json.Node.new(Json.NodeType.NULL)
    if isinstance(value, bool):
        return Json.Node.alloc().init_boolean(value)
    if isinstance(value, int):
        if not -2**63 <= value < 2**63:
            raise ValueError(f"integer out of JSON range: {value}")
        return Json.Node.alloc().init_int(value)
    if isinstance(value, float):
        return Json.Node.alloc().init_double(value)
    if isinstance(value, str):
        return Json.Node.alloc().init_string(value)
    if isinstance(value, (list, tuple)):
        array = Json.Array.new()
        for element in value:
            array.add_element(to_node(element))
        return Json.Node.alloc().init_array(array)
    if isinstance(value, dict):
        obj = Json.Object.new()
        for key, member in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys are strings, not {type(key).__name__}")
            obj.set_member(key, to_node(member))
        return Json.Node.alloc().init_object(obj)
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


def from_node(node):
    """The Python value of a Json.Node (None for a NULL node or None)."""
    if node is None:
        return None
    kind = node.get_node_type()
    if kind == Json.NodeType.OBJECT:
        obj = node.get_object()
        return {name: from_node(obj.get_member(name)) for name in obj.get_members()}
    if kind == Json.NodeType.ARRAY:
        return [from_node(element) for element in node.get_array().get_elements()]
    if kind == Json.NodeType.NULL:
        return None
    value_type = node.get_value_type()
    if value_type == GObject.TYPE_INT64:
        return node.get_int()
    if value_type == GObject.TYPE_DOUBLE:
        return node.get_double()
    if value_type == GObject.TYPE_BOOLEAN:
        return node.get_boolean()
    return node.get_string()


# Bounded waits -----------------------------------------------------------

def iterate_until(predicate, timeout, context=None):
    """Iterates the main context until predicate() is true or timeout
    seconds have passed; returns predicate()'s last value."""
    context = context or GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    expired = []
    source = GLib.timeout_source_new(max(1, int(timeout * 1000)))
    source.set_callback(lambda *_: expired.append(True) or GLib.SOURCE_REMOVE)
    source.attach(context)
    try:
        while not predicate():
            if expired or time.monotonic() >= deadline:
                return predicate()
            context.iteration(True)
        return True
    finally:
        source.destroy()


def wait_subprocess(process, timeout):
    """Waits (iterating the main context) for a Gio.Subprocess to end;
    returns False if it was still running after timeout seconds."""
    done = []
    process.wait_async(None, lambda p, result: done.append(p.wait_finish(result)))
    return iterate_until(lambda: done, timeout)


# The endpoint ------------------------------------------------------------

HEADER_TERMINATOR = b"\r\n\r\n"


class JsonRpc:
    """A JSON-RPC 2.0 endpoint over an Achat.Channel.

    framing: "content-length" (LSP) or "newline" (MCP stdio).
    max_message_size: the longest message body (or line) accepted, in
      bytes; longer ones close the channel with ErrorCode.TOO_LARGE.
    max_header_size: the longest header block (content-length framing).
    """

    def __init__(self, channel, framing="content-length", max_message_size=16 * 1024 * 1024,
                 max_header_size=8 * 1024):
        if framing not in ("content-length", "newline"):
            raise ValueError(f"unknown framing {framing!r}")
        self.channel = channel
        self.framing = framing
        self.max_message_size = max_message_size
        self.max_header_size = max_header_size
        self.on_closed = None          # called once with a GLib.Error or None
        self.error = None              # why the channel closed, once it did
        self.closed = False
        self._next_id = 1
        self._pending = {}             # id -> callback(result, error)
        self._request_handlers = {}    # method -> handler(params) -> result
        self._notification_handlers = {}  # method -> [handler(params)]
        self._fallback_notification = None
        self._in_body = False
        self._handlers = [channel.connect("terminator-found", self._on_message),
                          channel.connect("closed", self._on_channel_closed)]
        self._expect_headers()

    @classmethod
    def new_for_stream(cls, stream, framing="content-length", **kwargs):
        """An endpoint over a new channel on a pollable GIOStream."""
        return cls(Achat.Channel.new_for_stream(stream), framing, **kwargs)

    # Handlers ---------------------------------------------------------

    def on_request(self, method, handler):
        """handler(params) returns the result (a Python value or a
        Json.Node) or raises RpcError; unhandled methods are answered with
        "method not found"."""
        self._request_handlers[method] = handler

    def on_notification(self, method, handler):
        """handler(params), for each notification `method` from the peer;
        method None: every notification without its own handler, called
        as handler(method, params)."""
        if method is None:
            self._fallback_notification = handler
        else:
            self._notification_handlers.setdefault(method, []).append(handler)

    # Output -----------------------------------------------------------

    def call(self, method, params=None, callback=None):
        """Sends a request; callback(result, error) gets the result (a
        Python value) or a GLib.Error (REMOTE_ERROR_DOMAIN for an error
        response, ERROR_DOMAIN when the channel closed first). Returns the
        request id, or None if the channel is closed (callback is then
        called with the error before this returns)."""
        request_id = self._next_id
        self._next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        if self.closed or self.channel.is_closing():
            if callback is not None:
                callback(None, self.error or local_error(ErrorCode.CLOSED,
                                                         f"{method}: the channel is closed"))
            return None
        self._pending[request_id] = (method, callback)
        self._send(message)
        return request_id

    def notify(self, method, params=None):
        """Sends a notification; returns False if the channel is closed."""
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        return self._send(message)

    def close(self):
        """Closes the channel now (queued output is dropped)."""
        self.channel.close()

    def close_when_done(self):
        """Closes the channel once queued output is written."""
        if not self.channel.is_closing():
            self.channel.close_when_done()

    def serialize(self, message):
        """The bytes of one message, without framing."""
        return Json.to_string(to_node(message), False).encode("utf-8")

    def _send(self, message):
        if self.closed or self.channel.is_closing():
            return False
        data = self.serialize(message)
        if self.framing == "newline":
            # Refused (GLib.Error) if the text had a raw newline: it cannot,
            # since json-glib escapes control characters in strings.
            return self.channel.push_line(data)
        header = b"Content-Length: %d\r\n\r\n" % len(data)
        return self.channel.push(header + data)

    # Input ------------------------------------------------------------

    def _expect_headers(self):
        self._in_body = False
        self.channel.set_max_input_size(
            self.max_header_size if self.framing == "content-length" else self.max_message_size)
        self.channel.set_terminator(HEADER_TERMINATOR if self.framing == "content-length"
                                    else b"\n")

    def _fail(self, code, message):
        """Closes the channel because of bad input."""
        if self.error is None:
            self.error = local_error(code, message)
        self.channel.close()

    def _on_message(self, channel, message):
        try:
            self._handle_input(message.get_data())
        except Exception:  # never let it escape into the main loop
            self._fail(ErrorCode.HANDLER_FAILED,
                       "error while handling a message:\n" + traceback.format_exc())

    def _handle_input(self, data):
        if self.framing == "content-length" and not self._in_body:
            self._handle_header(data)
            return
        if self.framing == "content-length":
            self._expect_headers()
        elif not data.strip():
            return  # a blank line between messages
        self._handle_json(data)

    def _handle_header(self, data):
        length = None
        for line in data.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon:
                self._fail(ErrorCode.INVALID_HEADER,
                           f"invalid header line {line[:80]!r}")
                return
            if name.strip().lower() == b"content-length":
                value = value.strip()
                if not value.isdigit() or length is not None:
                    self._fail(ErrorCode.INVALID_HEADER,
                               f"invalid Content-Length header {line[:80]!r}")
                    return
                length = int(value)
        if length is None:
            self._fail(ErrorCode.INVALID_HEADER,
                       f"header block without Content-Length: {data[:200]!r}")
        elif length == 0:
            self._fail(ErrorCode.INVALID_HEADER, "Content-Length: 0 (an empty message)")
        elif length > self.max_message_size:
            self._fail(ErrorCode.TOO_LARGE,
                       f"message of {length} bytes announced, over the maximum of "
                       f"{self.max_message_size}")
        else:
            self._in_body = True
            self.channel.set_terminator_count(length)
            self.channel.set_max_input_size(length)

    def _handle_json(self, data):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            self._fail(ErrorCode.PARSE, f"message is not UTF-8: {e}")
            return
        try:
            node = Json.from_string(text)
        except GLib.Error as e:
            self._fail(ErrorCode.PARSE, f"malformed JSON: {e.message}: {data[:200]!r}")
            return
        if node is None or node.get_node_type() != Json.NodeType.OBJECT:
            kind = "nothing" if node is None else node.get_node_type().value_nick
            what = "a batch (unsupported)" if kind == "array" else kind
            self._fail(ErrorCode.INVALID_MESSAGE,
                       f"a JSON-RPC message is an object, got {what}: {data[:200]!r}")
            return
        self._dispatch(node.get_object(), data)

    def _dispatch(self, obj, data):
        def member(name):
            return obj.get_member(name) if obj.has_member(name) else None

        version = member("jsonrpc")
        if (version is None or version.get_value_type() != GObject.TYPE_STRING
                or version.get_string() != "2.0"):
            self._fail(ErrorCode.INVALID_MESSAGE,
                       f"not a JSON-RPC 2.0 message (no \"jsonrpc\": \"2.0\"): {data[:200]!r}")
            return
        method = member("method")
        id_node = member("id")
        if method is not None:
            if method.get_value_type() != GObject.TYPE_STRING:
                self._fail(ErrorCode.INVALID_MESSAGE, f"method is not a string: {data[:200]!r}")
                return
            params = from_node(member("params"))
            if id_node is None:
                self._dispatch_notification(method.get_string(), params)
            else:
                self._dispatch_request(from_node(id_node), method.get_string(), params)
            return
        if id_node is None or not (obj.has_member("result") or obj.has_member("error")):
            self._fail(ErrorCode.INVALID_MESSAGE,
                       f"neither a request, a notification nor a response: {data[:200]!r}")
            return
        request_id = from_node(id_node)
        pending = self._pending.pop(request_id, None)
        if pending is None:
            self._fail(ErrorCode.INVALID_MESSAGE,
                       f"a response to no pending request (id {request_id!r})")
            return
        method, callback = pending
        if obj.has_member("error"):
            error = from_node(member("error"))
            if not isinstance(error, dict):
                error = {"message": repr(error)}
            result = None
            error = remote_error(int(error.get("code", INTERNAL_ERROR) or 0),
                                 f"{method}: {error.get('message', 'error')}",
                                 error.get("data"))
        else:
            result, error = from_node(member("result")), None
        if callback is not None:
            callback(result, error)

    def _dispatch_notification(self, method, params):
        handlers = self._notification_handlers.get(method)
        if handlers:
            for handler in list(handlers):
                handler(params)
        elif self._fallback_notification is not None:
            self._fallback_notification(method, params)

    def _dispatch_request(self, request_id, method, params):
        handler = self._request_handlers.get(method)
        reply = {"jsonrpc": "2.0", "id": request_id}
        if handler is None:
            reply["error"] = {"code": METHOD_NOT_FOUND, "message": f"method not found: {method}"}
        else:
            try:
                reply["result"] = handler(params)
                self.serialize(reply)  # a result that cannot be JSON is an internal error
            except RpcError as e:
                reply.pop("result", None)
                reply["error"] = {"code": e.code, "message": e.message}
                if e.data is not None:
                    reply["error"]["data"] = e.data
            except Exception as e:
                reply.pop("result", None)
                reply["error"] = {"code": INTERNAL_ERROR,
                                  "message": f"{method}: {type(e).__name__}: {e}"}
        self._send(reply)

    def _on_channel_closed(self, channel, error):
        if self.closed:
            return
        self.closed = True
        if self.error is None and error is not None:
            self.error = error
        if self.error is None:
            # The peer closed: what it left unfinished is still readable.
            rest = channel.get_collected()
            rest = rest.get_data() if rest is not None else b""
            if self._in_body or rest.strip():
                self.error = local_error(ErrorCode.TRUNCATED,
                                         f"the peer closed in the middle of a message "
                                         f"({len(rest)} bytes of it received): {rest[:200]!r}")
        for handler_id in self._handlers:
            channel.disconnect(handler_id)
        pending, self._pending = self._pending, {}
        for method, callback in pending.values():
            if callback is None:
                continue
            reason = self.error.message if self.error is not None else "closed by the peer"
            try:
                callback(None, local_error(ErrorCode.CLOSED,
                                           f"{method}: the channel closed before the reply "
                                           f"({reason})"))
            except Exception:
                traceback.print_exc()
        if self.on_closed is not None:
            try:
                self.on_closed(self.error)
            except Exception:
                traceback.print_exc()
