# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""The pull style is exact, from Python: each read frames its message with
the framing in force when the read is called, however the peer's bytes
were split into reads and whenever the previous read's callback ran; input
nobody takes waits in the channel.

- the scripts of tests/data/pull-scripts.json (the table of
  tests/test-channel-pull.c) over every split of their stream, with the
  asyncio awaitables of the override (read_message() after setting the
  framing; read_until(), read_line(), read_bytes()) and with the plain
  GIO pair (read_message_async()/_finish() and read_line/until/bytes
  _async()/_finish()), the next read from the callback or from an idle;
- a server that speaks first, its banner read by 100 clients only after
  they connected and the main loop ran;
- 20,000 messages of three framings in one write, the garbage collector
  running; messages() over a run of lines;
- a cancelled read_line() followed at once by read_bytes();
- input kept, and the end with it, while nobody takes it.
"""

import asyncio
import gc
import json
import os
import socket
import struct
import time
import unittest

import taptest
from achattest import (Achat, Gio, GLib, Recorder, glib_asyncio, iterate, iterate_until,
                       loopback_server, send)

loop = glib_asyncio()

# How long a whole test may take before it fails: a safety net, not a
# measurement (20,000 awaited messages took 73 s under ASan on a loaded
# 2-core machine).
TIMEOUT = 180.0 if os.environ.get('ACHAT_TEST_MEMORY_TOOL') else 30.0
# How long one run of a script may wait for one thing (kept short: a run
# that goes wrong must not make the test slow).
STEP_TIMEOUT = 2.0
# A script test stops after this many failed runs.
MAX_FAILURES = 3


# The scripts ------------------------------------------------------------------

def _scripts_path():
    srcdir = os.environ.get('G_TEST_SRCDIR')
    if srcdir:
        path = os.path.join(srcdir, 'data', 'pull-scripts.json')
        if os.path.exists(path):
            return path
    return os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        os.pardir, 'data', 'pull-scripts.json')


class Script:
    """One script: the stream, the (framing, message) steps, the rest."""

    def __init__(self, entry):
        self.name = entry['name']
        self.stream = entry['stream'].encode('latin-1')
        self.steps = [(step['framing'], step['message'].encode('latin-1'))
                      for step in entry['steps']]
        self.rest = entry['rest'].encode('latin-1')


with open(_scripts_path(), encoding='utf-8') as _file:
    SCRIPTS = [Script(entry) for entry in json.load(_file)['scripts']]


def apply_framing(channel, framing):
    """Sets @framing (a script step's) as the channel's terminator."""
    kind = framing['kind']
    if kind == 'bytes':
        channel.set_terminator(framing['bytes'].encode('latin-1'))
    elif kind == 'line':
        channel.set_terminators(['\r\n', '\n'])
    elif kind == 'count':
        channel.set_terminator_count(framing['count'])
    elif kind == 'length16':
        channel.set_terminator_length_prefix(2, Achat.ByteOrder.BIG_ENDIAN, 0, 0)
    elif kind == 'netstring':
        channel.set_terminator_text_length(10, ':', ',', 0)
    elif kind == 'chunk':
        channel.set_terminator_text_length(16, '\r\n', '\r\n', 0)
    else:
        raise ValueError(f'unknown framing {kind!r}')


def every_split(length):
    """The cuts of a stream of @length bytes: none (one write), one at
    every byte (two writes), all (one byte per write)."""
    return [[]] + [[cut] for cut in range(1, length)] + [list(range(1, length))]


def pieces(stream, cuts):
    bounds = [0] + list(cuts) + [len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]


def data(message):
    """The bytes of a GLib.Bytes (b'' for an empty one)."""
    return message.get_data() or b''


class Expect:
    """What the reads of one run of a script returned, against the script."""

    def __init__(self, script):
        self.script = script
        self.step = 0            # the read under way; len(steps): the end
        self.done = False
        self.failure = None
        self.end_error = None

    def fail(self, text):
        if self.failure is None:
            self.failure = text
        self.done = True

    def framing(self):
        """The framing of the read under way; None for the end."""
        if self.step < len(self.script.steps):
            return self.script.steps[self.step][0]
        return None

    def got(self, message):
        """Checks what the read under way returned; whether to read on."""
        if self.step == len(self.script.steps):
            if message is not None:
                self.fail(f'read {self.step}: a message ({data(message)!r}) after the last one')
            self.done = True
            return False
        expected = self.script.steps[self.step][1]
        if message is None:
            self.fail(f'read {self.step}: the end, expected {expected!r}')
            return False
        if data(message) != expected:
            self.fail(f'read {self.step}: got {data(message)!r}, expected {expected!r}')
            return False
        self.step += 1
        return True

    def ended(self, error):
        """The read under way failed with @error."""
        if self.step < len(self.script.steps):
            self.fail(f'read {self.step}: {error.message}')
        else:
            self.end_error = error
            self.done = True

    def verdict(self, channel):
        """None, or what went wrong (checked before the channel is closed)."""
        if self.failure is not None:
            return self.failure
        if not self.done:
            return f'read {self.step} never returned'
        rest = self.script.rest
        error = self.end_error
        if not rest and error is not None:
            return f'the end: {error.message}, expected a clean end'
        if rest and (error is None or
                     not error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.PARTIAL_INPUT)):
            return (f'the end: {error.message if error else "clean"}, '
                    'expected PARTIAL_INPUT')
        collected = channel.get_collected()
        collected = data(collected) if collected is not None else b''
        if collected != rest:
            return f'the end: get_collected() is {collected!r}, expected {rest!r}'
        if channel.get_bytes_received() != len(self.script.stream):
            return (f'{channel.get_bytes_received()} bytes received '
                    f'of {len(self.script.stream)}')
        return None


def spin_for(seconds):
    """Iterates the default main context for @seconds."""
    context = GLib.MainContext.default()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not context.iteration(False):
            time.sleep(0.0002)


def new_socket_pair():
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    return Gio.Socket.new_from_fd(ours.detach()), peer


# A run with asyncio (styles a and b) ------------------------------------------

def async_read(channel, framing, helpers):
    """Starts the read of a step: sets @framing then read_message(), or
    (@helpers) the override's read_until(), read_line(), read_bytes()."""
    if framing is None:
        return channel.read_message()
    if helpers:
        kind = framing['kind']
        if kind == 'bytes':
            return channel.read_until(framing['bytes'].encode('latin-1'))
        if kind == 'line':
            return channel.read_line()
        if kind == 'count':
            return channel.read_bytes(framing['count'])
    apply_framing(channel, framing)
    return channel.read_message()


async def until(condition, what, timeout=STEP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        await asyncio.sleep(0)


async def run_asyncio(script, cuts, helpers, late):
    """One run of @script with awaits; returns None or what went wrong."""
    gsocket, peer = new_socket_pair()
    channel = Achat.Channel(socket=gsocket)
    run = Expect(script)

    async def reader():
        while True:
            try:
                message = await async_read(channel, run.framing(), helpers)
            except GLib.Error as error:
                run.ended(error)
                return
            if not run.got(message):
                return

    task = None
    try:
        if not late:
            task = asyncio.ensure_future(reader())
            await asyncio.sleep(0)      # the first read is under way
        total = 0
        for piece in pieces(script.stream, cuts):
            await loop.sock_sendall(peer, piece)
            total += len(piece)
            if late:
                await asyncio.sleep(0.001)
            else:
                await until(lambda: (channel.get_bytes_received() >= total or
                                     task.done() or channel.is_closed()),
                            f'the channel to receive {total} bytes')
        if late:
            await asyncio.sleep(0.005)
            task = asyncio.ensure_future(reader())
            await asyncio.sleep(0)
        peer.close()
        await asyncio.wait_for(asyncio.shield(task), STEP_TIMEOUT)
    except (AssertionError, asyncio.TimeoutError) as error:
        run.fail(f'read {run.step}: {error or "timed out"}')
    finally:
        peer.close()
        verdict = run.verdict(channel)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        channel.close()
    return verdict


# A run with the GIO pair (styles c and d) -------------------------------------

def run_callbacks(script, cuts, read_calls, from_idle, late):
    """One run of @script with read_*_async()/_finish(), the next read
    started in the callback or in an idle after it; returns None or what
    went wrong."""
    gsocket, peer = new_socket_pair()
    channel = Achat.Channel(socket=gsocket)
    run = Expect(script)

    def on_read(channel, result, finish):
        try:
            message = finish(channel, result)
        except GLib.Error as error:
            run.ended(error)
            return
        if not run.got(message):
            return
        if from_idle:
            GLib.idle_add(start_from_idle)
        else:
            start()

    def start_from_idle():
        start()
        return GLib.SOURCE_REMOVE

    def start():
        framing = run.framing()
        kind = framing['kind'] if framing is not None else None
        if read_calls and kind == 'bytes':
            channel.read_until_async(framing['bytes'].encode('latin-1'), None,
                                     on_read, Achat.Channel.read_until_finish)
        elif read_calls and kind == 'line':
            channel.read_line_async(None, on_read, Achat.Channel.read_line_finish)
        elif read_calls and kind == 'count':
            channel.read_bytes_async(framing['count'], None,
                                     on_read, Achat.Channel.read_bytes_finish)
        else:
            if framing is not None:
                apply_framing(channel, framing)
            channel.read_message_async(None, on_read, Achat.Channel.read_message_finish)

    try:
        if not late:
            start()
        total = 0
        for piece in pieces(script.stream, cuts):
            send(peer, piece)
            total += len(piece)
            if late:
                spin_for(0.001)
            else:
                iterate_until(lambda: (channel.get_bytes_received() >= total or
                                       run.done or channel.is_closed()),
                              f'the channel to receive {total} bytes', STEP_TIMEOUT)
        if late:
            spin_for(0.005)
            start()
        peer.close()
        iterate_until(lambda: run.done, 'the last read', STEP_TIMEOUT)
    except AssertionError as error:
        run.fail(f'read {run.step}: {error}')
    finally:
        peer.close()
        verdict = run.verdict(channel)
        channel.close()
        iterate(5)
    return verdict


# The script tests --------------------------------------------------------------

class ScriptTestCase(unittest.TestCase):
    """Runs a script over splits, first read early and late; fails with
    the first few runs that went wrong."""

    def check_runs(self, script, run_one):
        failures = []
        runs = 0
        for late in (False, True):
            for cuts in every_split(len(script.stream)):
                runs += 1
                failure = run_one(script, cuts, late)
                if failure is not None:
                    failures.append(f'cuts {cuts}, first read {"late" if late else "early"}: '
                                    f'{failure}')
                    if len(failures) >= MAX_FAILURES:
                        break
            if len(failures) >= MAX_FAILURES:
                break
        if failures:
            self.fail(f'script {script.name}: {len(failures)} of {runs} runs failed '
                      f'(a test stops after {MAX_FAILURES}):\n' + '\n'.join(failures))


def run_async(coroutine, timeout=TIMEOUT):
    return loop.run_until_complete(asyncio.wait_for(coroutine, timeout))


class ScriptsAsyncioTest(ScriptTestCase):
    """(a) set_terminator*() then await read_message(); every split."""


class ScriptsAsyncioHelpersTest(ScriptTestCase):
    """(b) await read_until(), read_line(), read_bytes() (length16: set
    then read_message()); every split."""


class ScriptsCallbackTest(ScriptTestCase):
    """(c) read_*_async()/_finish(), the next read started in the callback;
    set then read_message_async() and read_line/until/bytes_async(); every
    split."""


class ScriptsIdleTest(ScriptTestCase):
    """(d) the same, the next read started from an idle after the
    callback; every split."""


def _add_script_tests():
    def asyncio_test(script, helpers):
        def test(self):
            self.check_runs(script,
                            lambda s, cuts, late: run_async(run_asyncio(s, cuts, helpers, late)))
        return test

    def callback_test(script, from_idle):
        def test(self):
            for read_calls in (False, True):
                with self.subTest(read_calls=read_calls):
                    self.check_runs(script,
                                    lambda s, cuts, late: run_callbacks(s, cuts, read_calls,
                                                                        from_idle, late))
        return test

    for script in SCRIPTS:
        name = 'test_' + script.name.replace('-', '_')
        setattr(ScriptsAsyncioTest, name, asyncio_test(script, False))
        setattr(ScriptsAsyncioHelpersTest, name, asyncio_test(script, True))
        setattr(ScriptsCallbackTest, name, callback_test(script, False))
        setattr(ScriptsIdleTest, name, callback_test(script, True))


_add_script_tests()


class ScriptsFileTest(unittest.TestCase):

    def test_scripts_loaded(self):
        """The table is there: the tests above run on something."""
        self.assertGreaterEqual(len(SCRIPTS), 5)
        for script in SCRIPTS:
            self.assertTrue(script.steps, script.name)


# Asyncio test cases ------------------------------------------------------------

class AsyncTestCase(unittest.TestCase):

    def socket_pair(self):
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        return gsocket, peer

    def channel(self, gsocket):
        channel = Achat.Channel(socket=gsocket)
        self.addCleanup(self._close, channel)
        return channel

    def _close(self, channel):
        channel.close()
        loop.run_until_complete(asyncio.sleep(0.01))


# Banners -----------------------------------------------------------------------

CLIENTS = 100


class BannerTest(AsyncTestCase):
    """A server that speaks first, then closes: its 100 clients connect,
    the main loop runs, only then each sets "\\r\\n" and reads."""

    def start_server(self):
        def on_accepted(server, channel):
            channel.push(b'220 ready\r\n')
            channel.close_when_done()

        address = loopback_server(self, on_accepted)
        return f'127.0.0.1:{address.get_port()}'

    def keep(self, clients):
        def close_all():
            for client in clients:
                client.close()
            iterate(20)
        self.addCleanup(close_all)

    def test_asyncio(self):
        address = self.start_server()
        clients = []
        self.keep(clients)

        async def banners():
            connected = []
            for _ in range(CLIENTS):
                future = loop.create_future()

                def on_connected(source, result, future=future):
                    try:
                        future.set_result(Achat.Channel.connect_to_host_finish(result))
                    except GLib.Error as error:
                        future.set_exception(error)

                Achat.Channel.connect_to_host_async(address, 0, None, on_connected)
                connected.append(future)
            clients.extend(await asyncio.gather(*connected))
            await asyncio.sleep(0.05)   # the server wrote and closed meanwhile
            self.assertEqual(sum(c.is_closed() for c in clients), 0,
                             'clients closed before anyone read')
            for client in clients:
                client.set_terminator(b'\r\n')
            greetings = await asyncio.gather(*(c.read_message() for c in clients),
                                             return_exceptions=True)
            ends = await asyncio.gather(*(c.read_message() for c in clients),
                                        return_exceptions=True)
            return greetings, ends

        greetings, ends = run_async(banners())
        self.assertEqual(len(clients), CLIENTS)
        self.assertEqual([g if isinstance(g, Exception) or g is None else data(g)
                          for g in greetings], [b'220 ready'] * CLIENTS)
        self.assertEqual(ends, [None] * CLIENTS)

    def test_callbacks(self):
        address = self.start_server()
        clients = []
        errors = []
        self.keep(clients)

        def on_connected(source, result):
            try:
                clients.append(Achat.Channel.connect_to_host_finish(result))
            except GLib.Error as error:
                errors.append(error)

        for _ in range(CLIENTS):
            Achat.Channel.connect_to_host_async(address, 0, None, on_connected)
        iterate_until(lambda: len(clients) + len(errors) == CLIENTS, 'the clients to connect',
                      TIMEOUT)
        self.assertEqual(errors, [])
        spin_for(0.05)
        self.assertEqual(sum(c.is_closed() for c in clients), 0,
                         'clients closed before anyone read')

        results = {}

        def on_read(channel, result, index):
            try:
                message = Achat.Channel.read_message_finish(channel, result)
            except GLib.Error as error:
                results[index].append(error)
                return
            results[index].append(data(message) if message is not None else None)
            if message is not None:
                channel.read_message_async(None, on_read, index)

        for index, client in enumerate(clients):
            results[index] = []
            client.set_terminator(b'\r\n')
            client.read_message_async(None, on_read, index)
        iterate_until(lambda: all(r and not isinstance(r[-1], bytes) for r in results.values()),
                      'every client to read to the end', TIMEOUT)
        self.assertEqual(list(results.values()), [[b'220 ready', None]] * CLIENTS)


# Volume ------------------------------------------------------------------------

MESSAGES = 20000


class VolumeTest(AsyncTestCase):

    def test_switching_framings(self):
        """20,000 messages in one write: a line, a length-prefixed frame, a
        counted body, in turn; the framing set before each await."""
        gsocket, peer = self.socket_pair()
        channel = self.channel(gsocket)
        expected = []
        wire = bytearray()
        for i in range(MESSAGES):
            kind = i % 3
            if kind == 0:
                body = f'a line {i}'.encode()
                wire += body + b'\n'
            elif kind == 1:
                body = f'frame\n{i}\r\n'.encode() * (i % 5)    # empty ones too
                wire += struct.pack('>H', len(body)) + body
            else:
                body = f'count\n{i}'.encode()
                wire += body
            expected.append((kind, body))

        async def client():
            sender = asyncio.ensure_future(loop.sock_sendall(peer, bytes(wire)))
            for i, (kind, body) in enumerate(expected):
                if kind == 0:
                    channel.set_terminator(b'\n')
                    message = await channel.read_message()
                elif kind == 1:
                    channel.set_terminator_length_prefix(2, Achat.ByteOrder.BIG_ENDIAN, 0, 0)
                    message = await channel.read_message()
                else:
                    message = await channel.read_bytes(len(body))
                self.assertIsNotNone(message, f'message {i}')
                self.assertEqual(data(message), body, f'message {i}')
                if i % 1000 == 999:
                    gc.collect()
            await sender
            peer.close()
            channel.set_terminator(b'\n')
            self.assertIsNone(await channel.read_message())

        run_async(client())
        self.assertEqual(channel.get_bytes_received(), len(wire))

    def test_messages_lines(self):
        """async for over messages(): a run of lines, then the end."""
        gsocket, peer = self.socket_pair()
        channel = self.channel(gsocket)
        channel.set_terminator(b'\n')
        expected = [f'line {i}'.encode() for i in range(MESSAGES // 2)]
        wire = b''.join(line + b'\n' for line in expected)

        async def client():
            sender = asyncio.ensure_future(loop.sock_sendall(peer, wire))
            got = []
            async for message in channel.messages():
                got.append(data(message))
                if len(got) % 1000 == 0:
                    gc.collect()
                if len(got) == len(expected):
                    await sender
                    peer.close()
            return got

        self.assertEqual(run_async(client()), expected)
        self.assertTrue(channel.is_closed())


# Cancelling --------------------------------------------------------------------

class CancelTest(AsyncTestCase):

    def check_cancel_then_read_bytes(self, wait_before_cancel):
        gsocket, peer = self.socket_pair()
        channel = self.channel(gsocket)

        async def client():
            line = channel.read_line()
            if wait_before_cancel:
                await asyncio.sleep(0.02)
            line.cancel()
            three = channel.read_bytes(3)
            await asyncio.sleep(0.02)
            self.assertFalse(three.done())
            await loop.sock_sendall(peer, b'abcdef\n')
            first = await asyncio.wait_for(three, STEP_TIMEOUT)
            second = await asyncio.wait_for(channel.read_line(), STEP_TIMEOUT)
            self.assertTrue(line.cancelled())
            return data(first), data(second)

        self.assertEqual(run_async(client()), (b'abc', b'def'))

    def test_cancel_at_once_then_read_bytes(self):
        """read_line(), cancelled at once, then read_bytes(3) at once."""
        self.check_cancel_then_read_bytes(False)

    def test_cancel_pending_then_read_bytes(self):
        """read_line() pending a while, cancelled, then read_bytes(3) at once."""
        self.check_cancel_then_read_bytes(True)


# Nobody to take a message -------------------------------------------------------

class NoListenerTest(unittest.TestCase):

    def test_kept_until_handler(self):
        """No handler, no read: what came, and the end, wait; a handler
        connected later gets every message, then the channel closes."""
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        channel = Achat.Channel(socket=gsocket)
        self.addCleanup(channel.close)
        send(peer, b'hello\nworld\n')
        peer.close()
        spin_for(0.05)
        self.assertFalse(channel.is_closed(), 'closed with its input nobody took')
        channel.set_terminator(b'\n')
        recorder = Recorder(channel, data_collected=False)
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.simple(), [('T', b'hello'), ('T', b'world'), ('closed', None)])
        self.assertEqual(channel.get_bytes_received(), 12)


if __name__ == '__main__':
    taptest.main()
