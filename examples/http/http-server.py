#!/usr/bin/python3
# http-server.py: the HTTP request handler of asynchat's documentation
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""The http_request_handler of asynchat's documentation, made complete.

Usage: http-server.py [PORT]

Headers are read with a "\\r\\n\\r\\n" terminator, a POST body with a count
terminator taken from Content-Length, then no terminator is set (extra
bytes are ignored) and the request is handled:

    GET /                 a short text page
    GET /hello?name=X     "Hello, X!"
    POST /echo            the request body, byte for byte
    anything else         404 Not Found

400 for a malformed request, 411 for a POST without Content-Length, 413
for a body larger than MAX_BODY. Listens on 127.0.0.1:PORT (0, the
default, lets the kernel pick) until SIGTERM or SIGINT. The same server is
written in C (http-server.c) and JavaScript (http-server.js).
"""

import argparse
import re
import signal

import gi

gi.require_version("Achat", "1.0")
from gi.repository import Achat, Gio, GLib  # noqa: E402

MAX_HEADERS = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
VERSION = re.compile(r"HTTP/[0-9]\.[0-9]")
DIGITS = re.compile(r"[0-9]+")
INDEX_PAGE = (
    "achat HTTP example\n"
    "\n"
    "GET /hello?name=you    a greeting\n"
    "POST /echo             the request body, sent back\n"
)


# snippet-begin handler
class HttpRequestHandler(Achat.Channel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.set_terminator(b"\r\n\r\n")
        # A peer sending endless headers is cut off (the channel closes).
        self.set_max_input_size(MAX_HEADERS)
        self.reading_headers = True
        self.handling = False
        self.headers = {}

    def do_terminator_found(self, message):
        data = message.get_data() or b""
        if self.reading_headers:
            self.reading_headers = False
            if not self.parse_headers(data.decode("latin-1")):
                self.respond("400 Bad Request")
            elif self.method == "POST":
                self.expect_body()
            else:
                self.handle_request(b"")
        elif not self.handling:
            self.handle_request(data)
# snippet-end handler

    def parse_headers(self, text):
        """Parses the request line and the header fields; False if malformed."""
        if not text or "\0" in text:
            return False
        request_line, *fields = text.split("\r\n")
        request = request_line.split(" ")
        if (len(request) != 3 or not TOKEN.fullmatch(request[0])
                or not request[1] or not VERSION.fullmatch(request[2])):
            return False
        self.method, self.target, self.version = request
        for field in fields:
            name, colon, value = field.partition(":")
            if not colon or not TOKEN.fullmatch(name):
                return False
            self.headers[name.lower()] = value.strip()
        return True

    def expect_body(self):
        """After the headers of a POST: read Content-Length bytes."""
        clen = self.headers.get("content-length")
        if clen is None:
            self.respond("411 Length Required")
        elif not DIGITS.fullmatch(clen):
            self.respond("400 Bad Request")
        elif int(clen) > MAX_BODY:
            self.respond("413 Content Too Large")
        elif int(clen) == 0:
            self.handle_request(b"")  # a count of 0 would mean no terminator
        else:
            if (self.headers.get("expect", "").lower() == "100-continue"
                    and self.version == "HTTP/1.1"):
                self.push(b"HTTP/1.1 100 Continue\r\n\r\n")
            # The body may be longer than the header block was allowed to be.
            self.set_max_input_size(int(clen))
            self.set_terminator_count(int(clen))

    def handle_request(self, body):
        path, _, query = self.target.partition("?")
        if self.method == "GET" and path == "/":
            self.respond("200 OK", INDEX_PAGE)
        elif self.method == "GET" and path == "/hello":
            try:  # parsed as the C and JavaScript servers do
                params = GLib.Uri.parse_params(query, -1, "&",
                                               GLib.UriParamsFlags.WWW_FORM)
            except GLib.Error:
                self.respond("400 Bad Request")
                return
            name = params.get("name", "world")
            self.respond("200 OK", f"Hello, {name}!")
        elif self.method == "POST" and path == "/echo":
            self.respond("200 OK", body, "application/octet-stream")
        else:
            self.respond("404 Not Found")

    def respond(self, status, body=None, content_type="text/plain; charset=utf-8"):
        if body is None:
            body = status
        if isinstance(body, str):
            body = body.encode()
        self.handling = True
        self.set_terminator_none()  # clients sometimes over-send
        self.push(f"HTTP/1.1 {status}\r\n"
                  f"Content-Type: {content_type}\r\n"
                  f"Content-Length: {len(body)}\r\n"
                  "Connection: close\r\n"
                  "\r\n".encode())
        self.push(body)
        self.close_when_done()


def main():
    parser = argparse.ArgumentParser(description="achat's HTTP example")
    parser.add_argument("port", nargs="?", type=int, default=0,
                        help="the port to listen on, 0 to let the kernel pick")
    port = parser.parse_args().port
    if not 0 <= port <= 65535:
        parser.error(f"port {port} is out of range")

    server = Achat.Server.new(HttpRequestHandler)
    address = Gio.InetSocketAddress.new_from_string("127.0.0.1", port)
    _, bound = server.add_address(address, Gio.SocketType.STREAM,
                                  Gio.SocketProtocol.TCP, None)

    # GLib handles SIGINT too: without this, GLib.MainLoop.run() would
    # install Python's handler over GLib's and raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)

    print(f"listening on 127.0.0.1:{bound.get_port()}", flush=True)
    server.start()
    loop.run()
    server.stop()
    server.close()


if __name__ == "__main__":
    main()
