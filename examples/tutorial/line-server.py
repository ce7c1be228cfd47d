#!/usr/bin/python3
# line-server.py: the tutorial's line server, in Python (PyGObject)
#
# Usage: line-server.py [PORT]   (0 or nothing: a port the kernel picks)
# Same protocol as line-server.c; docs/tutorial.md shows this file.
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

import signal
import sys

import gi

gi.require_version("Achat", "1.0")
from gi.repository import Achat, Gio, GLib  # noqa: E402


# snippet-begin handler
class LineChannel(Achat.Channel):
    def __init__(self, **properties):
        super().__init__(**properties)
        self.set_terminator(b"\r\n")

    def do_terminator_found(self, line):
        if line.get_data() == b"QUIT":
            self.push(b"bye\r\n")
            self.close_when_done()
        else:
            self.push(b"you said: " + line.get_data() + b"\r\n")
# snippet-end handler


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    # snippet-begin server
    server = Achat.Server.new(LineChannel)
    address = Gio.InetSocketAddress.new_from_string("127.0.0.1", port)
    _, bound = server.add_address(address, Gio.SocketType.STREAM,
                                  Gio.SocketProtocol.TCP, None)

    signal.signal(signal.SIGINT, signal.SIG_DFL)  # let GLib handle it
    loop = GLib.MainLoop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    print(f"listening on 127.0.0.1:{bound.get_port()}", flush=True)

    server.start()
    loop.run()
    # snippet-end server


if __name__ == "__main__":
    main()
