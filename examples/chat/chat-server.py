#!/usr/bin/python3
# chat-server.py: a multi-user line chat server, asynchat's classic example
#
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A multi-user line chat server on achat, from Python (PyGObject).

Usage: chat-server.py [PORT]

Listens on 127.0.0.1:PORT (0 or no argument: a port the kernel picks),
prints "listening on 127.0.0.1:PORT" and serves until SIGTERM or SIGINT,
then exits with status 0. Run it from a build tree with

    GI_TYPELIB_PATH=_build/achat LD_LIBRARY_PATH=_build/achat \\
        /usr/bin/python3 examples/chat/chat-server.py 7000

chat-server.c and chat-server.js speak the same protocol.

The protocol
------------
Lines end with "\\r\\n"; a bare "\\n" is accepted too (a trailing "\\r" is
stripped). The server always sends "\\r\\n". Empty lines are ignored. Text
is relayed as bytes, unchanged.

  on connect           server: * welcome, send NICK <name>
  NICK <name>          everybody in the room, newcomer included:
                               * <name> joined
                       <name> is 1 to 16 of A-Z a-z 0-9 _ - and unique;
                       otherwise one of these, and nothing else happens:
                               ! invalid nick, use 1-16 of A-Z a-z 0-9 _ -
                               ! nick <name> is taken
                               ! you are already <nick>
  /who                 server: * users: <nick> <nick> ...   (sorted)
  /quit                server: * bye, then closes the connection;
                       others: * <nick> left
  /anything-else       server: ! unknown command /anything-else
  any other line       others: <nick> line

Before NICK only NICK and /quit are accepted; anything else gets
"! send NICK <name> first". A client that disconnects without /quit is
announced as "* <nick> left" too. Lines that arrive after /quit are ignored.

How it is built
---------------
ChatChannel subclasses Achat.Channel: its __init__ sets the terminator
(PyGObject runs it when the server's C code constructs the channel), and
do_terminator_found() and do_closed() override the signals' class
closures. The server's channel-type is ChatChannel; its channel-accepted
signal adds each channel to the room (the registry of connected channels),
and do_closed() removes it. Broadcasts skip channels that are closing
(is_closing()): a channel refuses pushes once close_when_done() was called.
"""

import re
import signal
import sys

import gi

gi.require_version("GLib", "2.0")
gi.require_version("Gio", "2.0")
gi.require_version("Achat", "1.0")
from gi.repository import Achat, Gio, GLib  # noqa: E402

NICK_RE = re.compile(rb"[A-Za-z0-9_-]{1,16}\Z")


class Room:
    """The registry of connected channels."""

    def __init__(self):
        self.channels = []          # ChatChannel, in order of arrival
        self.shutting_down = False  # no announcements while closing all

    def members(self):
        return [c for c in self.channels if c.in_room()]

    def broadcast(self, line, *, but=None):
        """Sends line (bytes, without its end) to everybody in the room."""
        data = GLib.Bytes.new(line + b"\r\n")  # one copy, pushed to all
        for member in self.members():
            if member is not but:
                member.push_bytes(data)

    def find(self, nick):
        return next((c for c in self.members() if c.nick == nick), None)

    def close_all(self):
        self.shutting_down = True
        for channel in list(self.channels):
            channel.close()  # do_closed() runs before this returns


class ChatChannel(Achat.Channel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.room = None   # set when accepted; None once closed
        self.nick = None   # bytes; None before NICK and after /quit
        self.set_terminator(b"\n")

    def in_room(self):
        return self.nick is not None and not self.is_closing()

    def send(self, line):
        if not self.is_closing():
            self.push(line + b"\r\n")

    def do_terminator_found(self, message):
        # After /quit, or before the server has accepted it.
        if self.is_closing() or self.room is None:
            return
        line = message.get_data() or b""
        if line.endswith(b"\r"):
            line = line[:-1]
        if line:
            self.handle_line(line)

    def handle_line(self, line):
        if line == b"NICK" or line.startswith(b"NICK "):
            self.handle_nick(line[5:])
        elif line == b"/quit":
            self.handle_quit()
        elif self.nick is None:
            self.send(b"! send NICK <name> first")
        elif line == b"/who":
            nicks = sorted(c.nick for c in self.room.members())
            self.send(b" ".join([b"* users:"] + nicks))
        elif line.startswith(b"/"):
            self.send(b"! unknown command " + line.split(b" ", 1)[0])
        else:
            self.room.broadcast(b"<" + self.nick + b"> " + line, but=self)

    def handle_nick(self, nick):
        if self.nick is not None:
            self.send(b"! you are already " + self.nick)
        elif not NICK_RE.match(nick):
            self.send(b"! invalid nick, use 1-16 of A-Z a-z 0-9 _ -")
        elif self.room.find(nick) is not None:
            self.send(b"! nick " + nick + b" is taken")
        else:
            self.nick = nick
            self.room.broadcast(b"* " + nick + b" joined")

    def handle_quit(self):
        nick, self.nick = self.nick, None
        self.send(b"* bye")
        # Closes once "* bye" is written; pushes are refused from now on.
        self.close_when_done()
        if nick is not None:
            self.room.broadcast(b"* " + nick + b" left", but=self)

    def do_closed(self, error):
        room, self.room = self.room, None
        nick, self.nick = self.nick, None
        if room is None:
            return
        if error is not None:
            who = nick.decode("ascii") if nick is not None else "a newcomer"
            print(f"chat-server: connection of {who} lost: {error.message}",
                  file=sys.stderr)
        room.channels.remove(self)
        if nick is not None and not room.shutting_down:
            room.broadcast(b"* " + nick + b" left")


def main(argv):
    try:
        port = int(argv[1]) if len(argv) > 1 else 0
        if len(argv) > 2 or not 0 <= port <= 65535:
            raise ValueError(port)
    except ValueError:
        print(f"usage: {argv[0]} [PORT]", file=sys.stderr)
        return 2

    room = Room()

    def on_channel_accepted(server, channel):
        channel.room = room
        room.channels.append(channel)
        channel.send(b"* welcome, send NICK <name>")

    server = Achat.Server(channel_type=ChatChannel)
    server.connect("channel-accepted", on_channel_accepted)
    address = Gio.InetSocketAddress.new_from_string("127.0.0.1", port)
    try:
        _, bound = server.add_address(address, Gio.SocketType.STREAM,
                                      Gio.SocketProtocol.TCP, None)
    except GLib.Error as error:
        print(f"chat-server: cannot listen on 127.0.0.1:{port}: {error.message}",
              file=sys.stderr)
        return 1

    loop = GLib.MainLoop()

    def on_quit_signal():
        loop.quit()
        return GLib.SOURCE_CONTINUE

    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, on_quit_signal)

    server.start()
    print(f"listening on 127.0.0.1:{bound.get_port()}", flush=True)

    loop.run()

    # Stop accepting, then close every connection without announcements.
    server.stop()
    server.close()
    room.close_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
