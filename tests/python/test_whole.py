# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Whole-read delivery from Python: a subclass overriding
do_messages_found(data, bounds, n_bounds) is handed every whole message of
a read in one call, returns how many it took, and gets the same messages,
in the same order, as terminator-found would have (tests/test-channel-whole.c
from Python):

- the scripts of tests/data/pull-scripts.json over every split of their
  stream (one write, cut in two at every byte, one byte per write), taking
  every message up to a framing change, one message per call, and chaining
  up to the default (terminator-found, one at a time);
- pausing input after each message (resumed from a timeout), and switching
  to reads of the pull style after each message (read_message_async()
  started again from its callback; await read_message() for the last
  message: see await_points());
- batches: five lines in one write in one call, with their bounds; one
  byte per write, one message per call; what one call is shown;
- the GLib.Bytes kept after the call, small and large batches, read after
  the read buffers were reused and the garbage collected;
- 1,000,000 lines from a writer thread, counted and checksummed, the
  garbage collector forced every so often (100,000 under a memory tool);
- a handler that returns 0 or more than it was given: a critical, and
  every message counted as taken once.
"""

import asyncio
import gc
import os
import time
import unittest
import zlib

import taptest
from achattest import Achat, GLib, LogCapture, Writer, iterate, iterate_until, send
from test_pull import (MAX_FAILURES, SCRIPTS, STEP_TIMEOUT, Script, apply_framing, every_split,
                       loop, new_socket_pair, pieces, run_async, until)
from test_pull import data as message_bytes

# The ways of taking the messages handed to do_messages_found().
UNTIL_CHANGE = 'until-change'   # every message, up to one that changes the framing
ONE = 'one'                     # one message per call, whatever was handed
CHAIN_UP = 'chain-up'           # the default: terminator-found, one at a time
PLAIN = 'plain-bytes'           # the default, do_message_found() overridden
TAKINGS = (UNTIL_CHANGE, ONE, CHAIN_UP, PLAIN)

# How a run switches to reads of the pull style.
PULL_CALLBACK = 'callback'      # read_message_async(), the next read from its callback
PULL_AWAIT = 'await'            # await channel.read_message() in a task

# Under ASan or valgrind (the test setups set it), the volume test is
# scaled down.
MEMORY_TOOL = os.environ.get('ACHAT_TEST_MEMORY_TOOL')


# Five lines, for the batch tests and the scripts' runs.
LINES = Script({
    'name': 'lines',
    'stream': 'a\nbb\n\nccc\nlast\n',
    'steps': [{'framing': {'kind': 'bytes', 'bytes': '\n'}, 'message': message}
              for message in ('a', 'bb', '', 'ccc', 'last')],
    'rest': '',
})


# A channel that follows a script ----------------------------------------------

class WholeChannel(Achat.Channel):
    """Hands what it is given to its run (set after construction)."""

    run = None

    def do_messages_found(self, data, bounds, n_bounds):
        return self.run.messages_found(self, data, bounds, n_bounds)

    def do_message_found(self, data, length):
        self.run.message_found(self, data, length)

    def do_terminator_found(self, message):
        self.run.terminator_found(self, message)


class Run:
    """One run of a script through a WholeChannel: checks each message
    against the script, sets the framing of the next one, pauses or
    switches to reads where asked."""

    def __init__(self, script, taking, pause_at=0, pull_at=0, pull_style=PULL_CALLBACK):
        self.script = script
        self.taking = taking
        self.pause_at = pause_at        # pause input after this message (0: never)
        self.pull_at = pull_at          # start reads after this message (0: never)
        self.pull_style = pull_style
        self.step = 0                   # the next message of the script
        self.calls = 0
        self.sizes = []                 # how many messages each call was handed
        self.shown = []                 # (bytes of data, bounds) of each call
        self.pulling = False
        self.task = None
        self.closed = False
        self.close_error = None
        self.failure = None

    def fail(self, text):
        if self.failure is None:
            self.failure = text

    def is_done(self):
        return self.closed or self.failure is not None

    def on_closed(self, channel, error):
        self.closed = True
        self.close_error = error

    # What the channel hands over

    def messages_found(self, channel, data, bounds, n_bounds):
        raw = data.get_data() or b''
        n = len(bounds) // 2
        self.calls += 1
        self.sizes.append(n)
        self.shown.append((raw, list(bounds)))
        if n_bounds != len(bounds) or n < 1 or len(bounds) % 2 != 0:
            self.fail(f'{len(bounds)} bounds, n_bounds {n_bounds}')
        for i, bound in enumerate(bounds):
            if bound > len(raw) or (i > 0 and bound < bounds[i - 1]):
                self.fail(f'bound {i} ({bound}) out of order or past the {len(raw)} bytes '
                          f'({bounds})')
        if channel.is_input_paused():
            self.fail(f'message {self.step}: handed over while input is paused')
        if self.pulling and self.pull_style != PULL_AWAIT:
            # Once reads started from the callback, each message goes to
            # them: a read is pending, or input waits for the callback
            # (GTask deferred it). Awaited reads are another matter: see
            # await_points().
            self.fail(f'message {self.step}: handed to do_messages_found() after the switch '
                      f'to reads ({raw!r}, {bounds})')
        if self.failure is not None:
            return max(n, 1)
        if self.taking in (CHAIN_UP, PLAIN):
            return Achat.Channel.do_messages_found(channel, data, bounds)
        for i in range(n):
            if (self.take(channel, raw[bounds[2 * i]:bounds[2 * i + 1]]) or
                    self.taking == ONE):
                return i + 1
        return n

    def message_found(self, channel, data, length):
        # Plain bytes, a copy: the default emits terminator-found.
        if not isinstance(data, bytes) or len(data) != length:
            self.fail(f'do_message_found() given {type(data).__name__} {data!r}, {length}')
        if self.taking != PLAIN:
            Achat.Channel.do_message_found(channel, data)
            return
        if channel.is_input_paused():
            self.fail(f'message {self.step}: handed over while input is paused')
        self.take(channel, data)

    def terminator_found(self, channel, message):
        # Only the default do_message_found() emits it.
        if self.taking != CHAIN_UP:
            self.fail('terminator-found emitted')
        if channel.is_input_paused():
            self.fail(f'message {self.step}: emitted while input is paused')
        self.take(channel, message_bytes(message))

    def take(self, channel, message):
        """One message of the script; returns whether the framing, or the
        input's state, changed."""
        if self.failure is not None:
            return False
        steps = self.script.steps
        if self.step >= len(steps):
            self.fail(f'message {self.step}: {message!r} after the last one')
            return False
        framing, expected = steps[self.step]
        if message != expected:
            self.fail(f'message {self.step} is {message!r}, not {expected!r}')
            return False
        self.step += 1
        changed = False
        # A count is spent by its message: set again even when the same.
        if self.step < len(steps) and (steps[self.step][0] != framing or
                                       framing['kind'] == 'count'):
            apply_framing(channel, steps[self.step][0])
            changed = True
        if self.step == self.pause_at:
            # Resumed a few main loop iterations later.
            channel.pause_input()
            GLib.timeout_add(2, self.resume, channel)
            changed = True
        if self.step == self.pull_at:
            self.start_reads(channel)
            changed = True
        return changed

    def resume(self, channel):
        channel.resume_input()
        return GLib.SOURCE_REMOVE

    # The pull style

    def start_reads(self, channel):
        self.pulling = True
        if self.pull_style == PULL_CALLBACK:
            channel.read_message_async(None, self.on_read)
        else:
            # Started now (the override's reads start when called), awaited
            # in a task.
            first = channel.read_message()
            self.task = asyncio.ensure_future(self.reader(channel, first))

    def on_read(self, channel, result):
        try:
            message = Achat.Channel.read_message_finish(channel, result)
        except GLib.Error:
            return      # the end (a message cut short): checked by verdict()
        if message is None:
            return
        self.take(channel, message_bytes(message))
        if self.failure is None and self.step < len(self.script.steps):
            channel.read_message_async(None, self.on_read)

    async def reader(self, channel, pending):
        while True:
            try:
                message = await pending
            except GLib.Error:
                return
            if message is None:
                return
            self.take(channel, message_bytes(message))
            if self.failure is not None or self.step >= len(self.script.steps):
                return
            pending = channel.read_message()

    def verdict(self, channel):
        """None, or what went wrong."""
        if self.failure is not None:
            return self.failure
        steps = len(self.script.steps)
        if self.step != steps:
            error = self.close_error.message if self.close_error else 'no error'
            return f'{self.step} messages of {steps} (closed: {error})'
        if not self.script.rest and self.close_error is not None:
            return f'closed: {self.close_error.message}'
        if channel.get_bytes_received() != len(self.script.stream):
            return (f'{channel.get_bytes_received()} bytes received '
                    f'of {len(self.script.stream)}')
        collected = channel.get_collected()
        collected = message_bytes(collected) if collected is not None else b''
        if collected != self.script.rest:
            return f'get_collected() is {collected!r}, expected {self.script.rest!r}'
        return None


async def run_whole(script, cuts, taking, pause_at=0, pull_at=0, pull_style=PULL_CALLBACK):
    """Runs @script through a WholeChannel, the stream cut at @cuts (each
    piece a read of its own), the peer closing after the last; returns the
    run and None or what went wrong."""
    gsocket, peer = new_socket_pair()
    channel = WholeChannel(socket=gsocket)
    run = Run(script, taking, pause_at, pull_at, pull_style)
    channel.run = run
    channel.connect('closed', run.on_closed)
    apply_framing(channel, script.steps[0][0])
    try:
        total = 0
        for piece in pieces(script.stream, cuts):
            await loop.sock_sendall(peer, piece)
            total += len(piece)
            # Each piece a read of its own, unless input waits meanwhile
            # (paused, or for a read of the pull style).
            await until(lambda: (channel.get_bytes_received() >= total or run.is_done() or
                                 channel.is_input_paused() or run.pulling),
                        f'the channel to receive {total} bytes')
        peer.close()
        await until(run.is_done, 'the channel to close')
        if run.task is not None:
            await asyncio.wait_for(asyncio.shield(run.task), STEP_TIMEOUT)
    except (AssertionError, asyncio.TimeoutError) as error:
        run.fail(f'message {run.step}: {error or "timed out"}')
    finally:
        peer.close()
        verdict = run.verdict(channel)
        if run.task is not None and not run.task.done():
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        channel.close()
        channel.run = None      # no cycle left for the collector
    return run, verdict


def whole(script, cuts, taking, pause_at=0, pull_at=0, pull_style=PULL_CALLBACK):
    return run_async(run_whole(script, cuts, taking, pause_at, pull_at, pull_style))


# The scripts ------------------------------------------------------------------

class RunsTestCase(unittest.TestCase):

    def check_runs(self, script, runs):
        """Runs each (cuts, taking, pause_at, pull_at, pull_style) of
        @runs; fails with the first few that went wrong."""
        failures = []
        count = 0
        for cuts, taking, pause_at, pull_at, pull_style in runs:
            count += 1
            _, failure = whole(script, cuts, taking, pause_at, pull_at, pull_style)
            if failure is not None:
                failures.append(f'cuts {cuts}, taking {taking}, pause at {pause_at}, '
                                f'pull at {pull_at} ({pull_style}): {failure}')
                if len(failures) >= MAX_FAILURES:
                    break
        if failures:
            self.fail(f'script {script.name}: {len(failures)} of {count} runs failed '
                      f'(a test stops after {MAX_FAILURES}):\n' + '\n'.join(failures))


class ScriptsSplitTest(RunsTestCase):
    """Every script over every split of its stream (one write, cut in two
    at every byte, one byte per write), each way of taking."""


class ScriptsPauseTest(RunsTestCase):
    """Pausing input after each message k of every script, resumed from a
    2 ms timeout; the stream in one write (and cut every 3 bytes, taking
    up to a change)."""


class ScriptsPullTest(RunsTestCase):
    """Switching to reads of the pull style after each message k of every
    script, read_message_async() started again from its callback; and
    await read_message() for the last message (see await_points()); the
    stream in one write (and cut every 3 bytes, taking up to a change)."""


def await_points(script):
    """The messages k after which a switch to awaited reads is checked:
    the last but one (the read takes the last message).

    Once a read was made, a message goes to the pending read, else to the
    class handler (docs/overview.md). The read's callback (the override's
    future) sees its message before the handler sees the next one, but
    the task awaiting the future resumes only in a later main loop
    iteration: meanwhile the channel hands the next messages to
    do_messages_found(), framed under the framing in force then. So with
    two messages or more after the switch, the handler sees message k + 2
    before the task sees k + 1, and the task cannot set the framing of
    k + 2 in time: the same with do_terminator_found(), a limit of mixing
    awaits with a class handler, not of whole reads. From the callback
    (ScriptsPullTest's callback tests) every k is exact."""
    return [len(script.steps) - 1]


def _add_script_tests():
    def split_test(script):
        def test(self):
            self.check_runs(script, [(cuts, taking, 0, 0, None)
                                     for taking in TAKINGS
                                     for cuts in every_split(len(script.stream))])
        return test

    def at_runs(script, pause, pull_style):
        runs = []
        points = (await_points(script) if pull_style == PULL_AWAIT
                  else range(1, len(script.steps)))
        for at in points:
            pause_at, pull_at = (at, 0) if pause else (0, at)
            for taking in TAKINGS:
                runs.append(([], taking, pause_at, pull_at, pull_style))
            for cut in range(1, len(script.stream), 3):
                runs.append(([cut], UNTIL_CHANGE, pause_at, pull_at, pull_style))
        return runs

    def pause_test(script):
        def test(self):
            self.check_runs(script, at_runs(script, True, None))
        return test

    def pull_test(script, pull_style):
        def test(self):
            self.check_runs(script, at_runs(script, False, pull_style))
        return test

    for script in SCRIPTS + [LINES]:
        name = 'test_' + script.name.replace('-', '_')
        setattr(ScriptsSplitTest, name, split_test(script))
        setattr(ScriptsPauseTest, name, pause_test(script))
        setattr(ScriptsPullTest, name + '_callback', pull_test(script, PULL_CALLBACK))
        setattr(ScriptsPullTest, name + '_await', pull_test(script, PULL_AWAIT))


_add_script_tests()


class ScriptsFileTest(unittest.TestCase):

    def test_scripts_loaded(self):
        """The table is there, with count framings and several messages."""
        self.assertGreaterEqual(len(SCRIPTS), 5)
        self.assertTrue(any(framing['kind'] == 'count'
                            for script in SCRIPTS for framing, _ in script.steps))
        for script in SCRIPTS:
            self.assertGreaterEqual(len(script.steps), 2, script.name)


# Batches ----------------------------------------------------------------------

class BatchTest(unittest.TestCase):

    def test_one_write_one_call(self):
        """Five lines in one write: one call, with five messages and their
        bounds in the bytes from the first message to the last terminator."""
        run, failure = whole(LINES, [], UNTIL_CHANGE)
        self.assertIsNone(failure)
        self.assertEqual(run.calls, 1)
        self.assertEqual(run.sizes, [5])
        # The bytes from the first message's start through the last
        # terminator.
        self.assertEqual(run.shown,
                         [(b'a\nbb\n\nccc\nlast\n', [0, 1, 2, 4, 5, 5, 6, 9, 10, 14])])

    def test_one_byte_per_write(self):
        """One byte per write: one message per call. One that began in an
        earlier read arrives alone (data is the message); the empty line,
        whole in its read, arrives with its terminator."""
        run, failure = whole(LINES, list(range(1, len(LINES.stream))), UNTIL_CHANGE)
        self.assertIsNone(failure)
        self.assertEqual(run.calls, 5)
        self.assertEqual(run.sizes, [1] * 5)
        self.assertEqual(run.shown, [(b'a', [0, 1]), (b'bb', [0, 2]), (b'\n', [0, 0]),
                                     (b'ccc', [0, 3]), (b'last', [0, 4])])

    def test_one_per_call(self):
        """Taking one per call: five calls, the first with all five, each
        starting at the message after the last one taken. (How many the
        later calls are handed adapts to how many were taken: 5, 1, 2, 1, 1
        today.)"""
        run, failure = whole(LINES, [], ONE)
        self.assertIsNone(failure)
        self.assertEqual(run.calls, 5)
        self.assertEqual(run.sizes[0], 5)
        rest = LINES.stream
        for (raw, bounds), size in zip(run.shown, run.sizes):
            self.assertEqual(len(bounds), 2 * size)
            self.assertTrue(rest.startswith(raw), (raw, rest))
            self.assertEqual(raw[bounds[-1]:bounds[-1] + 1], b'\n')
            rest = rest[bounds[1] + 1:]
        self.assertEqual(rest, b'')

    def test_chain_up_in_one_call(self):
        """Chaining up: one call, terminator-found for each message."""
        run, failure = whole(LINES, [], CHAIN_UP)
        self.assertIsNone(failure)
        self.assertEqual(run.sizes, [5])
        self.assertEqual(run.step, 5)


class Shown(Achat.Channel):
    """Logs what each call is shown, and the matched terminator (the last
    message's), takes everything."""

    def do_messages_found(self, data, bounds, n_bounds):
        self.log.append((data.get_data() or b'', list(bounds), n_bounds,
                         bytes(self.get_matched_terminator() or b'')))
        return len(bounds) // 2


class ShownTest(unittest.TestCase):
    """What one call is given, exactly: the bytes from the first message to
    the last terminator (a frame has none: through its payload), the
    separators between the bounds; the rest is not a message yet."""

    def show(self, setup, stream):
        """The log of the calls for @stream in one write, after @setup."""
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        channel = Shown(socket=gsocket)
        self.addCleanup(channel.close)
        channel.log = []
        setup(channel)
        send(peer, stream)
        iterate_until(lambda: channel.get_bytes_received() >= len(stream) and channel.log,
                      'the bytes to arrive')
        iterate(10)
        return channel.log

    def test_several_terminators(self):
        log = self.show(lambda c: c.set_terminators(['\r\n', '\n', '|']),
                        b'one\r\ntwo\nthree|rest')
        self.assertEqual(log, [(b'one\r\ntwo\nthree|', [0, 3, 5, 8, 9, 14], 6, b'|')])

    def test_length_prefix(self):
        log = self.show(lambda c: c.set_terminator_length_prefix(
            1, Achat.ByteOrder.BIG_ENDIAN, 0, 0), b'\003abc\000\002de\005abc')
        self.assertEqual(log, [(b'abc\x00\x02de', [0, 3, 4, 4, 5, 7], 6, b'')])


# Keeping data -------------------------------------------------------------------

class Keeper(Achat.Channel):
    """Keeps the GLib.Bytes and bounds of every call."""

    def do_messages_found(self, data, bounds, n_bounds):
        self.kept.append((data, list(bounds)))
        return len(bounds) // 2


class KeepTest(unittest.TestCase):

    def check_kept(self, lines_per_write, line_length, writes):
        """@writes writes of @lines_per_write lines of @line_length bytes,
        each a read of its own; every GLib.Bytes handed over is kept, and
        read only after all of them came and the garbage was collected."""
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        channel = Keeper(socket=gsocket)
        self.addCleanup(channel.close)
        channel.kept = []
        channel.set_terminator(b'\n')
        expected = []
        for w in range(writes):
            lines = [(b'%d.%d:' % (w, i)).ljust(line_length, b'abcdefghij'[(w + i) % 10:][:1])
                     for i in range(lines_per_write)]
            expected.extend(lines)
            total = channel.get_bytes_received() + sum(len(line) + 1 for line in lines)
            send(peer, b''.join(line + b'\n' for line in lines))
            iterate_until(lambda: channel.get_bytes_received() >= total,
                          f'write {w} to be read')
            gc.collect()
        iterate(10)
        kept = channel.kept
        channel.kept = None
        channel.close()
        self.overwrite_buffers()
        gc.collect()
        got = []
        for kept_data, bounds in kept:
            raw = kept_data.get_data() or b''
            got.extend(raw[bounds[2 * i]:bounds[2 * i + 1]] for i in range(len(bounds) // 2))
        self.assertEqual(len(got), len(expected))
        self.assertEqual(got, expected)
        return kept

    def overwrite_buffers(self):
        """Another channel reads 200 KiB of other bytes: through the read
        buffer and the message buffer the channels of the context share."""
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        other = Achat.Channel(socket=gsocket)
        self.addCleanup(other.close)
        other.set_terminator(b'\n')
        got = []
        other.connect('terminator-found', lambda c, message: got.append(message.get_size()))
        for size in (20, 20000, 60000):
            send(peer, (b'Z' * (size - 1) + b'\n') * (200 * 1024 // size))
        iterate_until(lambda: len(got) == sum(200 * 1024 // size for size in (20, 20000, 60000)),
                      'the other channel to read')
        other.close()
        iterate(10)

    def test_small_batches_kept(self):
        """Batches smaller than a slice of the read buffer (copies)."""
        kept = self.check_kept(20, 30, 20)
        self.assertLess(len(kept), 20 * 20)

    def test_large_batches_kept(self):
        """Batches of 40 KiB and more: slices of the read buffer, which
        later reads reuse unless the slice is kept."""
        kept = self.check_kept(400, 100, 8)
        self.assertTrue(any((d.get_size() or 0) >= 16 * 1024 for d, _ in kept))


# Volume -------------------------------------------------------------------------

VOLUME_LINES = 100000 if MEMORY_TOOL else 1000000
VOLUME_TIMEOUT = 600.0 if MEMORY_TOOL else 120.0
GC_EVERY = VOLUME_LINES // 20


class Counter(Achat.Channel):
    """Counts the lines "line N" and checksums them, in order."""

    def do_messages_found(self, data, bounds, n_bounds):
        raw = data.get_data()
        crc = self.crc
        count = self.count
        for i in range(0, len(bounds), 2):
            crc = zlib.crc32(b'\n', zlib.crc32(raw[bounds[i]:bounds[i + 1]], crc))
        count += len(bounds) // 2
        # The checksum covers every message; the first and last of each
        # batch are compared too, to say where it went wrong.
        for number, i in ((self.count, 0), (count - 1, len(bounds) - 2)):
            message = raw[bounds[i]:bounds[i + 1]]
            if self.first_wrong is None and message != b'line %d' % number:
                self.first_wrong = (number, message)
        self.calls += 1
        if count // GC_EVERY != self.count // GC_EVERY:
            gc.collect()
            self.collections += 1
        self.crc = crc
        self.count = count
        return len(bounds) // 2


class VolumeTest(unittest.TestCase):

    def test_million_lines(self):
        """Lines "line N\\n" written by a thread (a blocking socket: the
        main loop is not blocked), counted and checksummed; gc.collect()
        forced every VOLUME_LINES / 20 lines."""
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        peer.settimeout(VOLUME_TIMEOUT)     # blocking, in the writer thread
        channel = Counter(socket=gsocket)
        self.addCleanup(channel.close)
        channel.crc = channel.count = channel.calls = channel.collections = 0
        channel.first_wrong = None
        channel.set_terminator(b'\n')
        closed = []
        channel.connect('closed', lambda c, error: closed.append(error))

        expected_crc = 0
        chunks = []
        block = 10000
        for start in range(0, VOLUME_LINES, block):
            lines = [b'line %d\n' % i for i in range(start, min(start + block, VOLUME_LINES))]
            for line in lines:
                expected_crc = zlib.crc32(line, expected_crc)
            chunks.append(b''.join(lines))
        wire = b''.join(chunks)
        del chunks
        thread = Writer(peer, wire)
        started = time.monotonic()
        thread.start()
        iterate_until(lambda: closed or channel.count >= VOLUME_LINES,
                      f'{VOLUME_LINES} lines', VOLUME_TIMEOUT)
        iterate_until(lambda: closed, 'the channel to close', STEP_TIMEOUT)
        elapsed = time.monotonic() - started
        thread.join(STEP_TIMEOUT)
        self.assertFalse(thread.is_alive())
        self.assertIsNone(thread.error)
        self.assertEqual(closed, [None])
        self.assertIsNone(channel.first_wrong)
        self.assertEqual(channel.count, VOLUME_LINES)
        self.assertEqual(channel.crc, expected_crc)
        self.assertEqual(channel.get_bytes_received(), len(wire))
        self.assertGreaterEqual(channel.collections, 19)
        # Batches: far fewer calls than lines.
        self.assertLess(channel.calls, VOLUME_LINES // 10)
        print(f'# {VOLUME_LINES} lines in {elapsed:.2f} s, {channel.calls} calls')


# Wrong returns --------------------------------------------------------------------

class WrongReturn(Achat.Channel):
    """Returns self.answer(n) for n messages; records each message."""

    def do_messages_found(self, data, bounds, n_bounds):
        raw = data.get_data() or b''
        n = len(bounds) // 2
        self.got.extend(raw[bounds[2 * i]:bounds[2 * i + 1]] for i in range(n))
        self.sizes.append(n)
        return self.answer(n)


class WrongReturnTest(unittest.TestCase):

    def check(self, answer):
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        channel = WrongReturn(socket=gsocket)
        self.addCleanup(channel.close)
        channel.got = []
        channel.sizes = []
        channel.answer = answer
        channel.set_terminator(b'\n')
        with LogCapture('Achat') as log:
            send(peer, b'a\nb\nc\n')
            iterate_until(lambda: len(channel.got) >= 3, 'the first read')
            iterate(20)
            # Later reads are not lost either.
            send(peer, b'd\ne\n')
            iterate_until(lambda: len(channel.got) >= 5, 'the second read')
            send(peer, b'f\n')
            iterate_until(lambda: len(channel.got) >= 6, 'the third read')
            iterate(20)
        self.assertEqual(channel.got, [b'a', b'b', b'c', b'd', b'e', b'f'])
        self.assertEqual(channel.sizes, [3, 2, 1])
        self.assertEqual(len(log.messages), 3, log.messages)
        self.assertIn('messages_found', log.messages[0])
        self.assertIn('returned', log.messages[0])
        return log.messages

    def test_zero(self):
        """Returning 0: a critical per call, all taken (none again)."""
        messages = self.check(lambda n: 0)
        self.assertIn('returned 0 for 3 messages', messages[0])

    def test_more_than_given(self):
        """Returning more than there were: the same."""
        messages = self.check(lambda n: n + 1)
        self.assertIn('returned 4 for 3 messages', messages[0])


# The guide's examples (docs/tutorial.md) ----------------------------------------

# snippet-begin whole-reads
class LineCounter(Achat.Channel):
    """Counts lines; a line "BODY n" announces n bytes of body."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.set_terminator(b'\n')
        self.lines = 0
        self.body = None
        self.in_body = False

    def do_messages_found(self, data, bounds, n_bounds):
        raw = data.get_data()
        for i in range(0, len(bounds), 2):
            line = raw[bounds[i]:bounds[i + 1]]
            if self.in_body:
                self.body = line
                self.in_body = False
                self.set_terminator(b'\n')
                return i // 2 + 1      # the messages after it are framed again
            if line.startswith(b'BODY ') and line[5:].isdigit():
                self.in_body = True
                self.set_terminator_count(int(line[5:]))
                return i // 2 + 1
            self.lines += 1
        return len(bounds) // 2        # took them all
# snippet-end whole-reads


# snippet-begin message-found
class Echo(Achat.Channel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.set_terminator(b'\r\n')

    def do_message_found(self, data, length):   # data: bytes
        self.push(b'you said: ' + data + b'\r\n')
# snippet-end message-found


class GuideTest(unittest.TestCase):
    """The examples do what the tutorial says."""

    def test_line_counter(self):
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        counter = LineCounter(socket=gsocket)
        self.addCleanup(counter.close)
        send(peer, b'a\nb\nBODY 5\nx\ny\nzc\nd\n')
        iterate_until(lambda: counter.lines == 4, 'four lines')
        self.assertEqual(counter.body, b'x\ny\nz')

    def test_echo(self):
        gsocket, peer = new_socket_pair()
        self.addCleanup(peer.close)
        echo = Echo(socket=gsocket)
        self.addCleanup(echo.close)
        send(peer, b'hi\r\n\r\nthere\r\n')
        expected = b'you said: hi\r\nyou said: \r\nyou said: there\r\n'
        received = b''
        deadline = time.monotonic() + STEP_TIMEOUT * 5
        peer.setblocking(False)
        while len(received) < len(expected) and time.monotonic() < deadline:
            iterate(1)
            try:
                received += peer.recv(4096)
            except BlockingIOError:
                pass
        self.assertEqual(received, expected)


if __name__ == '__main__':
    taptest.main()
