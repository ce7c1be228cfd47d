# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""asyncio on GLib's main loop (gi.events, or gbulb before PyGObject 3.50) with the Achat override
(bindings/python/gi/overrides/Achat.py): read_message(), messages(),
drain(), cancelling, the end of the stream, the coexistence of reads with
a terminator-found handler, and pushes from Python threads."""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import unittest

import gi

import taptest
from achattest import Achat, Gio, GLib, glib_asyncio, loopback_server

loop = glib_asyncio()

# How long a test may take before it fails.
TIMEOUT = 10.0


# snippet-begin line-client
async def line_client(channel, lines):
    """Sends each line and awaits its reply, then QUIT; returns the replies."""
    channel.set_terminator(b"\r\n")
    replies = []
    for line in lines:
        channel.push(line + b"\r\n")
        reply = await channel.read_message()
        replies.append(reply.get_data())
    channel.push(b"QUIT\r\n")
    async for reply in channel.messages():   # until the server closes
        replies.append(reply.get_data())
    return replies
# snippet-end line-client


# snippet-begin bulk-reply
async def bulk_reply(channel):
    """Reads a Redis bulk string such as "$5\\r\\nhello\\r\\n": its length on
    a line, then that many bytes and a line ending."""
    header = await channel.read_line()            # b"$5"
    length = int(header.get_data()[1:])
    body = await channel.read_bytes(length + 2)   # b"hello\\r\\n"
    return body.get_data()[:length]
# snippet-end bulk-reply


def line_server(gsocket):
    """The tutorial's line server on one connection: "you said: LINE" to
    each line, "bye" to QUIT before closing."""
    server = Achat.Channel(socket=gsocket)
    server.set_terminator(b'\r\n')

    def on_line(channel, line):
        if line.get_data() == b'QUIT':
            channel.push(b'bye\r\n')
            channel.close_when_done()
        else:
            channel.push(b'you said: ' + line.get_data() + b'\r\n')

    server.connect('terminator-found', on_line)
    return server


def data(message):
    """The bytes of a GLib.Bytes (b'' for an empty one)."""
    return message.get_data() or b''


async def receive(peer, size):
    """Receives exactly @size bytes on the non-blocking socket @peer."""
    received = bytearray()
    while len(received) < size:
        chunk = await loop.sock_recv(peer, size - len(received))
        if not chunk:
            raise AssertionError(f'end of stream after {len(received)} of {size} bytes')
        received += chunk
    return bytes(received)


class AsyncTestCase(unittest.TestCase):
    """Runs coroutines on the one GLib-based asyncio loop of the module; closes the
    channels and peers of a test when it ends."""

    def run_async(self, coroutine, timeout=TIMEOUT):
        return loop.run_until_complete(asyncio.wait_for(coroutine, timeout))

    def socket_pair(self):
        """A Gio.Socket and the non-blocking Python socket at the other end."""
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        self.addCleanup(peer.close)
        return Gio.Socket.new_from_fd(ours.detach()), peer

    def channel(self, gsocket, terminator=b'\n'):
        channel = Achat.Channel(socket=gsocket)
        if terminator is not None:
            channel.set_terminator(terminator)
        self.addCleanup(self._close, channel)
        return channel

    def line_channel(self):
        """A channel with "\\n" as terminator and its peer socket."""
        gsocket, peer = self.socket_pair()
        return self.channel(gsocket), peer

    @staticmethod
    async def until(condition):
        while not condition():
            await asyncio.sleep(0.001)

    def _close(self, channel):
        channel.close()
        loop.run_until_complete(asyncio.sleep(0.01))

    def assertError(self, error, code):
        """@error is the Gio.IOErrorEnum @code."""
        self.assertIsInstance(error, GLib.Error)
        self.assertTrue(error.matches(Gio.io_error_quark(), code),
                        f'{error.domain} {error.code}: {error.message}')


class OverrideTest(AsyncTestCase):

    def test_found_and_nothing_else_changed(self):
        self.assertEqual(Achat.Channel.__module__, 'gi.overrides.Achat')
        self.assertEqual(Achat.Channel.__gtype__.name, 'AchatChannel')
        self.assertEqual(Achat.Channel.__gtype__.pytype, Achat.Channel)
        for name in ('read_message', 'read_line', 'read_until', 'read_bytes', 'drain',
                     'messages'):
            self.assertTrue(callable(getattr(Achat.Channel, name)), name)

        # A subclass overriding the class handler, nobody reading: as before.
        class Lines(Achat.Channel):
            def __init__(self, **properties):
                super().__init__(**properties)
                self.lines = []

            def do_terminator_found(self, line):
                self.lines.append(data(line))

        gsocket, peer = self.socket_pair()
        lines = Lines(socket=gsocket)
        self.addCleanup(self._close, lines)
        lines.set_terminator(b'\n')
        self.assertNotEqual(Lines.__gtype__, Achat.Channel.__gtype__)
        peer.send(b'one\ntwo\n')
        self.run_async(self.until(lambda: len(lines.lines) == 2))
        self.assertEqual(lines.lines, [b'one', b'two'])


class SetupTest(unittest.TestCase):

    def test_setup_warns_nothing(self):
        """The tutorial's setup, then a coroutine run on the loop, in a fresh
        interpreter with deprecation warnings errors: asyncio deprecates
        get_event_loop() without a running loop from Python 3.12, the policy
        API from 3.14."""
        script = (
            'import achattest\n'
            'loop = achattest.glib_asyncio()\n'
            'async def main():\n'
            '    return 42\n'
            'assert loop.run_until_complete(main()) == 42\n'
            'print("ran")\n')
        run = subprocess.run([sys.executable, '-W', 'error::DeprecationWarning', '-c', script],
                             cwd=os.path.dirname(os.path.abspath(__file__)),
                             capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual((run.returncode, run.stdout, run.stderr), (0, 'ran\n', ''))


class ReadTest(AsyncTestCase):

    def test_line_client(self):
        """The tutorial's client against the tutorial's server."""
        client_socket, server_socket = (Gio.Socket.new_from_fd(s.detach())
                                        for s in socket.socketpair())
        client = self.channel(client_socket, terminator=None)
        server = line_server(server_socket)
        self.addCleanup(server.close)
        replies = self.run_async(line_client(client, [b'hello', b'world']))
        self.assertEqual(replies, [b'you said: hello', b'you said: world', b'bye'])
        self.assertTrue(client.is_closed())

    def test_bulk_reply(self):
        """The tutorial's bulk reader: replies that came in one write,
        before the first read, each framed as its read asks."""
        channel, peer = self.line_channel()
        peer.send(b'$5\r\nhello\r\n$12\r\nline\r\nline\r\n\r\n$0\r\n\r\n')
        self.run_async(self.until(lambda: channel.get_bytes_received() == 36))
        self.assertEqual(self.run_async(bulk_reply(channel)), b'hello')
        self.assertEqual(self.run_async(bulk_reply(channel)), b'line\r\nline\r\n')
        self.assertEqual(self.run_async(bulk_reply(channel)), b'')
        peer.close()
        self.assertIsNone(self.run_async(channel.read_line()))

    def test_request_response(self):
        """Push a request, await the reply: two messages per reply, the
        second waiting in the channel for its read."""
        channel, peer = self.line_channel()

        async def client():
            for i in range(20):
                request = f'GET {i}\n'.encode()
                channel.push(request)
                self.assertEqual(await receive(peer, len(request)), request)
                await loop.sock_sendall(peer, f'VALUE {i}\nEXTRA {i}\n'.encode())
                self.assertEqual(data(await channel.read_message()), f'VALUE {i}'.encode())
                self.assertEqual(data(await channel.read_message()), f'EXTRA {i}'.encode())
            peer.close()
            # The clean end: None, again and again.
            self.assertIsNone(await channel.read_message())
            self.assertIsNone(await channel.read_message())

        self.run_async(client())
        self.assertTrue(channel.is_closed())

    def test_messages_until_end(self):
        channel, peer = self.line_channel()
        expected = [f'line {i}'.encode() for i in range(500)]
        wire = b''.join(line + b'\n' for line in expected) + b'\n'   # and an empty one

        async def collect():
            got = []
            async for message in channel.messages():
                got.append(data(message))
            return got

        async def send_and_collect():
            collector = asyncio.ensure_future(collect())
            await asyncio.sleep(0.01)   # the first read waits: the peer may send
            for start in range(0, len(wire), 777):   # chunks that cut lines
                await loop.sock_sendall(peer, wire[start:start + 777])
                await asyncio.sleep(0)
            peer.shutdown(socket.SHUT_WR)
            return await collector

        self.assertEqual(self.run_async(send_and_collect()), expected + [b''])
        self.assertTrue(channel.is_closed())

    def test_end_in_message(self):
        """The end inside a message: PARTIAL_INPUT, the bytes in get_collected()."""
        channel, peer = self.line_channel()

        async def read_all():
            first = channel.read_message()
            peer.send(b'whole\nhal')
            peer.close()
            got = [data(await first)]
            with self.assertRaises(GLib.Error) as caught:
                async for message in channel.messages():
                    got.append(data(message))
            return got, caught.exception

        got, error = self.run_async(read_all())
        self.assertEqual(got, [b'whole'])
        self.assertError(error, Gio.IOErrorEnum.PARTIAL_INPUT)
        self.assertEqual(data(channel.get_collected()), b'hal')
        # The next read fails the same way.
        with self.assertRaises(GLib.Error) as caught:
            self.run_async(channel.read_message())
        self.assertError(caught.exception, Gio.IOErrorEnum.PARTIAL_INPUT)

    def test_end_in_counted_frame(self):
        gsocket, peer = self.socket_pair()
        channel = self.channel(gsocket, terminator=None)
        channel.set_terminator_count(8)

        async def read_all():
            first = channel.read_message()
            peer.send(b'12345678abc')
            peer.close()
            self.assertEqual(data(await first), b'12345678')
            with self.assertRaises(GLib.Error) as caught:
                await channel.read_message()
            return caught.exception

        error = self.run_async(read_all())
        self.assertError(error, Gio.IOErrorEnum.PARTIAL_INPUT)
        self.assertEqual(data(channel.get_collected()), b'abc')

    def test_second_read_refused(self):
        channel, peer = self.line_channel()

        async def two_reads():
            first = channel.read_message()
            second = channel.read_message()
            with self.assertRaises(GLib.Error) as caught:
                await second
            self.assertError(caught.exception, Gio.IOErrorEnum.PENDING)
            self.assertFalse(first.done())
            peer.send(b'one\n')
            self.assertEqual(data(await first), b'one')

        self.run_async(two_reads())


class CancelTest(AsyncTestCase):

    def test_future_cancel(self):
        """Cancelling the future of a read cancels the read; a read asked
        for at once starts when the cancelled one has ended, and gets the
        message that comes afterwards."""
        channel, peer = self.line_channel()

        async def cancel_then_read():
            first = channel.read_message()
            await asyncio.sleep(0.02)
            first.cancel()
            second = channel.read_message()
            await asyncio.sleep(0.02)
            self.assertFalse(second.done())
            peer.send(b'kept\n')
            self.assertEqual(data(await second), b'kept')
            self.assertTrue(first.cancelled())

        self.run_async(cancel_then_read())

    def test_task_cancel(self):
        """Cancelling the task awaiting a read cancels the read; the message
        that comes afterwards goes to the next read."""
        channel, peer = self.line_channel()
        reached = []

        async def reader():
            reached.append(data(await channel.read_message()))

        async def cancel_then_read():
            task = asyncio.ensure_future(reader())
            await asyncio.sleep(0.02)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.assertTrue(task.cancelled())
            peer.send(b'kept\n')
            self.assertEqual(data(await channel.read_message()), b'kept')

        self.run_async(cancel_then_read())
        self.assertEqual(reached, [])

    def test_wait_for_timeout(self):
        channel, peer = self.line_channel()

        async def time_out_then_read():
            with self.assertRaises(asyncio.TimeoutError):
                await asyncio.wait_for(channel.read_message(), 0.05)
            peer.send(b'kept\n')
            self.assertEqual(data(await asyncio.wait_for(channel.read_message(), 5)), b'kept')

        self.run_async(time_out_then_read())

    def test_gio_cancellable(self):
        """The plain GIO call with a Gio.Cancellable, then the override."""
        channel, peer = self.line_channel()
        cancellable = Gio.Cancellable()

        async def cancel_then_read():
            cancelled = loop.create_future()

            def on_read(channel, result):
                try:
                    cancelled.set_result(channel.read_message_finish(result))
                except GLib.Error as error:
                    cancelled.set_exception(error)

            channel.read_message_async(cancellable, on_read)
            await asyncio.sleep(0.02)
            cancellable.cancel()
            with self.assertRaises(GLib.Error) as caught:
                await cancelled
            self.assertError(caught.exception, Gio.IOErrorEnum.CANCELLED)
            peer.send(b'kept\n')
            self.assertEqual(data(await channel.read_message()), b'kept')

        self.run_async(cancel_then_read())

    def test_message_with_cancellation(self):
        """The message is in the socket when the read is cancelled: the
        channel reads it before it handles the cancellation (in an idle);
        it goes to the next read."""
        channel, peer = self.line_channel()

        async def cancel_then_read():
            first = channel.read_message()
            await asyncio.sleep(0.02)
            peer.send(b'kept\n')
            first.cancel()
            await asyncio.sleep(0.02)
            message = await asyncio.wait_for(channel.read_message(), 1)
            self.assertEqual(data(message), b'kept')

        self.run_async(cancel_then_read())

    def test_message_with_cancellation_read_at_once(self):
        """The same, the next read asked for at once."""
        channel, peer = self.line_channel()

        async def cancel_then_read():
            first = channel.read_message()
            await asyncio.sleep(0.02)
            peer.send(b'kept\n')
            first.cancel()
            message = await asyncio.wait_for(channel.read_message(), 1)
            self.assertEqual(data(message), b'kept')

        self.run_async(cancel_then_read())


class CoexistenceTest(AsyncTestCase):

    def test_read_or_handler(self):
        """With a terminator-found handler: a pending read gets the next
        message, the handler every other; each message exactly once."""
        channel, peer = self.line_channel()
        handled = []
        channel.connect('terminator-found', lambda channel, message: handled.append(data(message)))

        async def mixed():
            read = []
            peer.send(b'a\n')             # no read pending: the handler
            await asyncio.sleep(0.02)
            self.assertEqual(handled, [b'a'])
            pending = channel.read_message()
            peer.send(b'b\n')             # the read
            read.append(data(await pending))
            pending = channel.read_message()
            peer.send(b'c\nd\n')          # c to the read; then none pending: d to the handler
            read.append(data(await pending))
            await asyncio.sleep(0.02)
            pending = channel.read_message()
            peer.close()
            self.assertIsNone(await pending)
            return read

        read = self.run_async(mixed())
        self.assertEqual(read, [b'b', b'c'])
        self.assertEqual(handled, [b'a', b'd'])


class ClientChannel(Achat.Channel):
    """A channel type of the client's own."""


class ConnectTest(AsyncTestCase):

    def listening_server(self):
        def on_accepted(server, channel):
            channel.set_terminator(b'\n')
            channel.connect('terminator-found',
                            lambda ch, line: ch.push(b'echo ' + line.get_data() + b'\n'))

        return loopback_server(self, on_accepted)

    def test_connect_to_connectable_client_type(self):
        address = self.listening_server()
        client = Gio.SocketClient(timeout=10)

        async def talk():
            channel = await Achat.Channel.connect_to(address, client, ClientChannel)
            self.addCleanup(channel.close)
            self.assertIsInstance(channel, ClientChannel)
            channel.set_terminator(b'\n')
            channel.push(b'hi\n')
            return data(await channel.read_message())

        self.assertEqual(self.run_async(talk()), b'echo hi')

    @unittest.skipIf(gi.version_info < (3, 50, 0),
                     'PyGObject before 3.50 makes no _async method awaitable')
    def test_connect_async_awaitable_without_override(self):
        """The finish functions are constructors in the GIR; the scanner
        still pairs them with their _async function (glib:finish-func), so
        PyGObject 3.50 makes the plain method awaitable."""
        address = self.listening_server()

        async def talk():
            channel = await Achat.Channel.connect_async(address, None, ClientChannel)
            self.addCleanup(channel.close)
            self.assertIsInstance(channel, ClientChannel)
            host = await Achat.Channel.connect_to_host_async(
                '127.0.0.1', address.get_port())
            self.addCleanup(host.close)
            self.assertIs(type(host), Achat.Channel)
            channel.set_terminator(b'\n')
            channel.push(b'hi\n')
            reply = data(await channel.read_message())
            # A failure in the callback (here a host the parser refuses)
            # is the GLib.Error, not a TypeError of the finish call.
            with self.assertRaises(GLib.Error) as raised:
                await Achat.Channel.connect_to_host_async('[::1', 0)
            self.assertTrue(raised.exception.matches(Gio.io_error_quark(),
                                                     Gio.IOErrorEnum.INVALID_ARGUMENT))
            return reply

        self.assertEqual(self.run_async(talk()), b'echo hi')

    def test_connect_to_on_a_subclass(self):
        """Called on a subclass with no type given, connect_to() makes one
        of that subclass; on Achat.Channel, a plain channel."""
        address = self.listening_server()

        async def both():
            mine = await ClientChannel.connect_to(address)
            self.addCleanup(mine.close)
            plain = await Achat.Channel.connect_to(address)
            self.addCleanup(plain.close)
            return mine, plain

        mine, plain = self.run_async(both())
        self.assertIs(type(mine), ClientChannel)
        self.assertIs(type(plain), Achat.Channel)

    def test_connect_to_refused(self):
        probe = socket.socket()
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
        probe.close()

        async def refused():
            await Achat.Channel.connect_to(Gio.NetworkAddress.new('127.0.0.1', port))

        with self.assertRaises(GLib.Error) as raised:
            self.run_async(refused())
        self.assertTrue(raised.exception.matches(Gio.io_error_quark(),
                                                 Gio.IOErrorEnum.CONNECTION_REFUSED))


class DrainTest(AsyncTestCase):

    def test_drain_slow_peer(self):
        channel, peer = self.line_channel()
        chunk = 64 * 1024
        total = 4 * 1024 * 1024
        wire = bytes(i * 7 % 251 for i in range(total))

        async def push_and_drain():
            for start in range(0, total, chunk):
                self.assertTrue(channel.push(wire[start:start + chunk]))
            drained = channel.drain()
            channel.push(b'after')          # not waited for
            await asyncio.sleep(0.05)
            self.assertFalse(drained.done(), 'drained while the peer reads nothing')

            received = bytearray()

            async def read_slowly():
                while len(received) < total + 5:
                    received.extend(await loop.sock_recv(peer, 64 * 1024))
                    await asyncio.sleep(0.001)

            reader = asyncio.ensure_future(read_slowly())
            self.assertIs(await drained, True)
            self.assertGreaterEqual(channel.props.bytes_sent, total)
            await reader
            self.assertEqual(bytes(received), wire + b'after')
            self.assertIs(await channel.drain(), True)   # nothing queued: at once

        self.run_async(push_and_drain())

    def test_drain_closed(self):
        channel, peer = self.line_channel()

        async def drain_then_close():
            channel.push(bytes(8 * 1024 * 1024))
            drained = channel.drain()
            channel.close()
            with self.assertRaises(GLib.Error) as caught:
                await drained
            self.assertError(caught.exception, Gio.IOErrorEnum.CLOSED)
            with self.assertRaises(GLib.Error) as caught:
                await channel.drain()
            self.assertError(caught.exception, Gio.IOErrorEnum.CLOSED)

        self.run_async(drain_then_close())
        self.assertGreater(channel.props.unsent_bytes, 0)
        self.assertEqual(channel.get_unsent_bytes(), channel.props.unsent_bytes)


class ThreadsTest(AsyncTestCase):

    def test_threads_push(self):
        """Python threads push numbered records: each arrives once, in the
        order of its thread."""
        channel, peer = self.line_channel()
        threads, records = 4, 3000
        refused = []

        def pusher(number):
            for i in range(records):
                if not channel.push(f'{number} {i}\n'.encode()):
                    refused.append((number, i))

        async def receive_all():
            workers = [threading.Thread(target=pusher, args=(n,)) for n in range(threads)]
            for worker in workers:
                worker.start()
            received = bytearray()
            while received.count(b'\n') < threads * records:
                chunk = await loop.sock_recv(peer, 65536)
                if not chunk:
                    break
                received += chunk
            for worker in workers:   # done: their last records arrived
                worker.join(TIMEOUT)
            return bytes(received)

        received = self.run_async(receive_all())
        self.assertEqual(refused, [])
        per_thread = {n: [] for n in range(threads)}
        for line in received.decode().splitlines():
            number, i = map(int, line.split())
            per_thread[number].append(i)
        for number in range(threads):
            self.assertEqual(per_thread[number], list(range(records)), f'thread {number}')
        self.assertEqual(channel.props.unsent_bytes, 0)


if __name__ == '__main__':
    taptest.main()
