#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""The asynchat contender of the benchmark: Python's own asynchat and
asyncore, which achat mirrors on the GLib main loop.

    server-asynchat.py PORT

Speaks bench/PROTOCOL.md on 127.0.0.1:PORT (0: the kernel picks), prints
`listening on 127.0.0.1:PORT` and serves until SIGTERM or SIGINT.

Written the classic way: an asyncore.dispatcher accepts, an
asynchat.async_chat per connection collects data and switches between the
b'\\r\\n' terminator and a byte count for frame bodies, replies are pushed,
and a GET is a producer handing out 64 KiB at a time.
"""

import signal
import socket
import sys
import warnings

with warnings.catch_warnings():
    warnings.simplefilter('ignore', DeprecationWarning)
    import asynchat
    import asyncore

CHUNK_SIZE = 64 * 1024

# Byte i of a GET stream is (i * 7 + 3) & 0xff: its period is 256, so every
# chunk of a stream starting at 0 is this same block.
PATTERN = bytes((i * 7 + 3) & 0xff for i in range(CHUNK_SIZE))

COMMAND, LINES, FRAME_HEADER, FRAME_BODY = range(4)


class PatternProducer:
    """n bytes of the pattern, in 64 KiB chunks."""

    def __init__(self, n):
        self.remaining = n

    def more(self):
        if self.remaining >= CHUNK_SIZE:
            self.remaining -= CHUNK_SIZE
            return PATTERN
        data = PATTERN[:self.remaining]
        self.remaining = 0
        return data


class BenchChannel(asynchat.async_chat):

    def __init__(self, sock, map=None):
        asynchat.async_chat.__init__(self, sock, map)
        self.incoming = []
        self.mode = COMMAND
        self.lines = self.line_bytes = 0
        self.frames = self.frame_bytes = self.sum = 0
        self.set_terminator(b'\r\n')

    def collect_incoming_data(self, data):
        self.incoming.append(data)

    def found_terminator(self):
        data = b''.join(self.incoming)
        self.incoming = []
        mode = self.mode
        if mode == COMMAND:
            self.handle_command(data)
        elif mode == LINES:
            if data == b'QUIT':
                self.push(b'OK %d %d\r\n' % (self.lines, self.line_bytes))
                self.mode = COMMAND
            else:
                self.lines += 1
                self.line_bytes += len(data)
        elif mode == FRAME_HEADER:
            if not data.isdigit():
                self.push(b'ERR\r\n')
                self.mode = COMMAND
                return
            n = int(data)
            if n == 0:
                self.push(b'OK %d %d %d\r\n'
                          % (self.frames, self.frame_bytes, self.sum & 0xffffffff))
                self.mode = COMMAND
            else:
                self.set_terminator(n)
                self.mode = FRAME_BODY
        else:
            self.frames += 1
            self.frame_bytes += len(data)
            self.sum += sum(data)
            self.set_terminator(b'\r\n')
            self.mode = FRAME_HEADER

    def handle_command(self, data):
        if data.startswith(b'PING '):
            self.push(b'PONG ' + data[5:] + b'\r\n')
        elif data == b'LINES':
            self.mode = LINES
            self.lines = self.line_bytes = 0
        elif data == b'FRAMES':
            self.mode = FRAME_HEADER
            self.frames = self.frame_bytes = self.sum = 0
        elif data.startswith(b'GET ') and data[4:].isdigit():
            self.push_with_producer(PatternProducer(int(data[4:])))
        else:
            self.push(b'ERR\r\n')

    def handle_close(self):
        self.close()

    def handle_error(self):
        # A peer that resets its connection is no news: close quietly rather
        # than print a traceback on stdout, which nobody reads.
        if isinstance(sys.exc_info()[1], OSError):
            self.close()
        else:
            asynchat.async_chat.handle_error(self)


class BenchServer(asyncore.dispatcher):

    def __init__(self, port):
        asyncore.dispatcher.__init__(self)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(('127.0.0.1', port))
        # A thousand clients may connect at once.
        self.listen(1024)

    def handle_accepted(self, sock, addr):
        BenchChannel(sock)


def on_quit_signal(signum, frame):
    raise SystemExit(0)


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) > 65535:
        sys.exit('usage: %s PORT' % sys.argv[0])
    server = BenchServer(int(sys.argv[1]))
    print('listening on 127.0.0.1:%d' % server.socket.getsockname()[1], flush=True)
    signal.signal(signal.SIGTERM, on_quit_signal)
    signal.signal(signal.SIGINT, on_quit_signal)
    try:
        # poll(), not select(): a thousand connections would brush against
        # FD_SETSIZE.
        asyncore.loop(timeout=30, use_poll=True)
    except SystemExit:
        pass
    asyncore.close_all()
    return 0


if __name__ == '__main__':
    sys.exit(main())
