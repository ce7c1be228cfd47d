#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""The achat contender of the benchmark, from Python (PyGObject).

    server-achat.py PORT [--bytes | --whole]

Speaks bench/PROTOCOL.md on 127.0.0.1:PORT (0: the kernel picks), prints
`listening on 127.0.0.1:PORT` and serves until SIGTERM or SIGINT.

Written as the tutorial teaches Python: an Achat.Server making channels of
a subclass that overrides do_terminator_found(), replies pushed with
push(), a GET handed out by a Python Achat.Producer 64 KiB at a time.
With --bytes, channels take each message as plain bytes
(do_message_found); with --whole, every message of a read in one call
(do_messages_found, whole-read delivery). Run with the uninstalled typelib (bench/run.py sets GI_TYPELIB_PATH,
LD_LIBRARY_PATH and PYTHONPATH for the override).
"""

import signal
import sys

import gi

gi.require_version('Achat', '1.0')
from gi.repository import Achat, Gio, GLib, GObject  # noqa: E402

CHUNK_SIZE = 64 * 1024

# Byte i of a GET stream is (i * 7 + 3) & 0xff: its period is 256, so every
# chunk of a stream starting at 0 is this same block.
PATTERN = GLib.Bytes.new(bytes((i * 7 + 3) & 0xff for i in range(CHUNK_SIZE)))

COMMAND, LINES, FRAMES = range(3)


class PatternProducer(GObject.Object, Achat.Producer):
    """n bytes of the pattern, in 64 KiB chunks."""

    def __init__(self, n):
        super().__init__()
        self.remaining = n

    def do_more(self):
        if self.remaining == 0:
            return None
        if self.remaining >= CHUNK_SIZE:
            self.remaining -= CHUNK_SIZE
            return PATTERN
        n, self.remaining = self.remaining, 0
        return PATTERN.new_from_bytes(0, n)


class BenchChannel(Achat.Channel):

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.mode = COMMAND
        self.count = self.size = self.total = 0
        self.set_terminator(b'\r\n')

    def do_terminator_found(self, message):
        self.handle(message.get_data())

    def handle(self, data):
        """One message; returns whether the framing changed."""
        mode = self.mode
        if mode == LINES:
            if data == b'QUIT':
                self.push(b'OK %d %d\r\n' % (self.count, self.size))
                self.mode = COMMAND
            else:
                self.count += 1
                self.size += len(data)
        elif mode == FRAMES:
            if not data:
                # The header "0\r\n" ends the frames.
                self.push(b'OK %d %d %d\r\n' % (self.count, self.size, self.total & 0xffffffff))
                self.set_terminator(b'\r\n')
                self.mode = COMMAND
                return True
            self.count += 1
            self.size += len(data)
            self.total += sum(data)
        else:
            return self.command(data)
        return False

    def command(self, data):
        """A command line; returns whether the framing changed."""
        if data.startswith(b'PING '):
            self.push(b'PONG ' + data[5:] + b'\r\n')
        elif data == b'LINES':
            self.mode = LINES
            self.count = self.size = 0
        elif data == b'FRAMES':
            # "<len>\r\n" then the payload: one message per frame.
            self.set_terminator_text_length(10, '\r\n', None, 0)
            self.mode = FRAMES
            self.count = self.size = self.total = 0
            return True
        elif data.startswith(b'GET ') and data[4:].isdigit():
            self.push_with_producer(PatternProducer(int(data[4:])))
        else:
            self.push(b'ERR\r\n')
        return False


class BytesChannel(BenchChannel):
    """One message at a time as plain bytes (do_message_found): no GLib.Bytes."""

    def do_message_found(self, data, length):
        self.handle(data)


class WholeChannel(BenchChannel):
    """Whole-read delivery: every message of a read in one call, taken up
    to the one that changes the framing (the rest is framed again)."""

    def do_messages_found(self, data, bounds, n_bounds):
        buf = data.get_data()
        pairs = iter(bounds)
        taken = 0
        for start, end in zip(pairs, pairs):
            taken += 1
            if self.mode == LINES and (end - start != 4 or buf[start:end] != b'QUIT'):
                self.count += 1
                self.size += end - start
            elif self.mode == FRAMES and end > start:
                self.count += 1
                self.size += end - start
                self.total += sum(buf[start:end])
            elif self.handle(buf[start:end]):
                return taken
        return taken


def main():
    flavours = {'--whole': WholeChannel, '--bytes': BytesChannel}
    args = [a for a in sys.argv[1:] if a not in flavours]
    channel_type = next((flavours[a] for a in sys.argv[1:] if a in flavours), BenchChannel)
    port = int(args[0]) if args else 0
    loop = GLib.MainLoop()
    server = Achat.Server.new(channel_type)
    ok, address = server.add_address(
        Gio.InetSocketAddress.new_from_string('127.0.0.1', port),
        Gio.SocketType.STREAM, Gio.SocketProtocol.TCP, None)
    if not ok:
        sys.exit('cannot listen')
    print('listening on 127.0.0.1:%d' % address.get_port(), flush=True)
    for signum in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, loop.quit)
    server.start()
    loop.run()
    server.stop()
    server.close()


if __name__ == '__main__':
    main()
