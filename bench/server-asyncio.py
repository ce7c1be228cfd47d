#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""The asyncio contender of the benchmark: asyncio streams, the library
that replaced asynchat in Python.

    server-asyncio.py PORT

Speaks bench/PROTOCOL.md on 127.0.0.1:PORT (0: the kernel picks), prints
`listening on 127.0.0.1:PORT` and serves until SIGTERM or SIGINT.

Written as asyncio's documentation teaches: asyncio.start_server, one
coroutine per connection reading with readuntil() and readexactly(), and
writer.write() followed by await writer.drain(); a GET is written 64 KiB
at a time, draining after each chunk.
"""

import asyncio
import signal
import sys

CHUNK_SIZE = 64 * 1024

# Byte i of a GET stream is (i * 7 + 3) & 0xff: its period is 256, so every
# chunk of a stream starting at 0 is this same block.
PATTERN = bytes((i * 7 + 3) & 0xff for i in range(CHUNK_SIZE))

# Longest line accepted (StreamReader's default limit is 64 KiB).
LINE_LIMIT = 1024 * 1024


async def read_line(reader):
    return (await reader.readuntil(b'\r\n'))[:-2]


async def serve_lines(reader, writer):
    lines = line_bytes = 0
    while True:
        line = await read_line(reader)
        if line == b'QUIT':
            break
        lines += 1
        line_bytes += len(line)
    writer.write(b'OK %d %d\r\n' % (lines, line_bytes))
    await writer.drain()


async def serve_frames(reader, writer):
    frames = frame_bytes = total = 0
    while True:
        header = await read_line(reader)
        if not header.isdigit():
            writer.write(b'ERR\r\n')
            break
        n = int(header)
        if n == 0:
            writer.write(b'OK %d %d %d\r\n' % (frames, frame_bytes, total & 0xffffffff))
            break
        body = await reader.readexactly(n)
        frames += 1
        frame_bytes += n
        total += sum(body)
    await writer.drain()


async def serve_get(writer, n):
    while n > 0:
        if n >= CHUNK_SIZE:
            writer.write(PATTERN)
            n -= CHUNK_SIZE
        else:
            writer.write(PATTERN[:n])
            n = 0
        await writer.drain()


async def handle_connection(reader, writer):
    try:
        while True:
            line = await read_line(reader)
            if line.startswith(b'PING '):
                writer.write(b'PONG ' + line[5:] + b'\r\n')
                await writer.drain()
            elif line == b'LINES':
                await serve_lines(reader, writer)
            elif line == b'FRAMES':
                await serve_frames(reader, writer)
            elif line.startswith(b'GET ') and line[4:].isdigit():
                await serve_get(writer, int(line[4:]))
            else:
                writer.write(b'ERR\r\n')
                await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port):
    loop = asyncio.get_running_loop()
    quit = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, quit.set)
    loop.add_signal_handler(signal.SIGINT, quit.set)
    # A thousand clients may connect at once.
    server = await asyncio.start_server(handle_connection, '127.0.0.1', port,
                                        backlog=1024, limit=LINE_LIMIT)
    print('listening on 127.0.0.1:%d' % server.sockets[0].getsockname()[1], flush=True)
    await quit.wait()
    server.close()


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) > 65535:
        sys.exit('usage: %s PORT' % sys.argv[0])
    asyncio.run(serve(int(sys.argv[1])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
