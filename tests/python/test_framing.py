# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Framing from Python: several terminators at once and
get_matched_terminator(), length-prefixed frames (headers built with
struct, their limits and errors, push_frame() read back by the peer, the
asynchat idiom they replace), and push_line()/push_line_full() refusing
lines that would smuggle in a second one."""

import asyncio
import gc
import itertools
import os
import random
import socket
import struct
import time
import unittest
import zlib

import taptest
from achattest import (TIMEOUT, Achat, ChannelTestCase, Gio, GLib, LogCapture, Recorder,
                       Writer, glib_asyncio, iterate, iterate_until, nothing_to_receive,
                       receive, receive_until_eof, send)

BIG = Achat.ByteOrder.BIG_ENDIAN
LITTLE = Achat.ByteOrder.LITTLE_ENDIAN


def chunked(data, size):
    """@data cut into reads of @size bytes."""
    return [data[i:i + size] for i in range(0, len(data), size)]


def splits(data):
    """Ways of cutting @data into reads: whole, a byte at a time, and in
    pieces of a few sizes."""
    yield 'whole', [data]
    yield 'bytewise', chunked(data, 1)
    for size in (2, 3, 5, 7):
        yield f'by {size}', chunked(data, size)


def is_achat_error(error, code):
    return isinstance(error, GLib.Error) and error.matches(Achat.error_quark(), code)


class FramingTestCase(ChannelTestCase):

    def channel(self, data_collected=True):
        gsocket, peer = self.socket_pair()
        channel = Achat.Channel(socket=gsocket)
        return channel, Recorder(channel, data_collected), peer

    def assert_achat_error(self, error, code):
        self.assertIsInstance(error, GLib.Error)
        self.assertTrue(error.matches(Achat.error_quark(), code),
                        f'expected {code!r}, got {error.domain} {error.code}: {error.message}')

    def collected_per_message(self, recorder):
        """The data-collected pieces of each message, joined: what the
        default class handler built the message from."""
        pieces, out = [], []
        for kind, value in recorder.simple():
            if kind == 'c':
                pieces.append(value)
            elif kind == 'T':
                out.append(b''.join(pieces))
                pieces = []
        return out


# Several terminators --------------------------------------------------------

class MultiTerminatorTest(FramingTestCase):

    STREAM = b'a\r\nb\nc\r\n'

    def run_stream(self, reads, terminators=('\r\n', '\n')):
        channel, recorder, peer = self.channel()
        channel.set_terminators(list(terminators))
        matched = []
        channel.connect('terminator-found',
                        lambda channel, message: matched.append(bytes(channel.get_matched_terminator())))
        self.feed(channel, peer, reads)
        iterate(5)
        return channel, recorder, matched

    def test_splits(self):
        for name, reads in splits(self.STREAM):
            with self.subTest(split=name):
                channel, recorder, matched = self.run_stream(reads)
                self.assertEqual(recorder.messages(), [b'a', b'b', b'c'])
                self.assertEqual(matched, [b'\r\n', b'\n', b'\r\n'])
                self.assertEqual(self.collected_per_message(recorder), [b'a', b'b', b'c'])
                self.assertFalse(recorder.is_closed())
                channel.close()

    def test_every_two_and_three_way_split(self):
        data = self.STREAM
        cuts = itertools.chain(itertools.combinations(range(1, len(data)), 1),
                               itertools.combinations(range(1, len(data)), 2))
        for cut in cuts:
            bounds = (0,) + cut + (len(data),)
            reads = [data[bounds[i]:bounds[i + 1]] for i in range(len(bounds) - 1)]
            with self.subTest(reads=reads):
                channel, recorder, matched = self.run_stream(reads)
                self.assertEqual(recorder.messages(), [b'a', b'b', b'c'])
                self.assertEqual(matched, [b'\r\n', b'\n', b'\r\n'])
                channel.close()

    def test_order_of_the_set_does_not_matter(self):
        # With "\n" listed first, "\r\n" still wins where both end: the one
        # that starts first in the stream.
        channel, recorder, matched = self.run_stream(chunked(self.STREAM, 1), ('\n', '\r\n'))
        self.assertEqual(recorder.messages(), [b'a', b'b', b'c'])
        self.assertEqual(matched, [b'\r\n', b'\n', b'\r\n'])

    def test_longer_terminators(self):
        # Where two match, the one that starts first wins: "\r\n.\r\n"
        # over the "\n" inside it, however the bytes are split; a partial
        # "\r\n." that does not complete leaves the "\n" to end the message.
        cases = [
            (b'one\r\n.\r\ntwo\nthree\r\n.\r\n', [b'one', b'two', b'three'],
             [b'\r\n.\r\n', b'\n', b'\r\n.\r\n']),
            (b'a\r\nb\n', [b'a\r', b'b'], [b'\n', b'\n']),
            (b'a\r\n.x\n', [b'a\r', b'.x'], [b'\n', b'\n']),
            (b'a\r\n.\r\r\n.\r\n', [b'a\r', b'.\r'], [b'\n', b'\r\n.\r\n']),
        ]
        for stream, messages, terminators in cases:
            for name, reads in splits(stream):
                with self.subTest(stream=stream, split=name):
                    channel, recorder, matched = self.run_stream(reads, ('\r\n.\r\n', '\n'))
                    self.assertEqual(recorder.messages(), messages)
                    self.assertEqual(matched, terminators)
                    channel.close()

    def test_getters(self):
        channel, recorder, peer = self.channel()
        self.assertFalse(channel.get_matched_terminator())
        channel.set_terminators(['\r\n', '\n'])
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES)
        self.assertEqual(channel.get_terminator(), b'\r\n')
        self.assertFalse(channel.get_matched_terminator())

    def test_matched_terminator_survives_a_change_in_the_handler(self):
        channel, recorder, peer = self.channel()
        channel.set_terminators(['\r\n', '\n'])
        seen = []

        def on_message(channel, message):
            channel.set_terminator(b'#')
            seen.append(bytes(channel.get_matched_terminator()))

        channel.connect('terminator-found', on_message)
        self.feed(channel, peer, [b'x\ny#'])
        iterate(5)
        self.assertEqual(recorder.messages(), [b'x', b'y'])
        self.assertEqual(seen, [b'\n', b'#'])
        self.assertEqual(bytes(channel.get_matched_terminator()), b'#')

    def test_matched_terminator_is_empty_after_a_frame(self):
        channel, recorder, peer = self.channel()
        channel.set_terminators(['\r\n', '\n'])
        seen = []

        def on_message(channel, message):
            seen.append(bytes(channel.get_matched_terminator() or b''))
            channel.set_terminator_length_prefix(1, BIG, 0, 0)

        channel.connect('terminator-found', on_message)
        self.feed(channel, peer, [b'x\n\x02ab'])
        iterate(5)
        self.assertEqual(recorder.messages(), [b'x', b'ab'])
        self.assertEqual(seen, [b'\n', b''])


# Length-prefixed frames ------------------------------------------------------

PAYLOADS = [b'hello', b'', b'line one\r\nline two\r\n', bytes(range(256)), b'', b'\n',
            b'\x00\x00\x00\x05fake header']


class LengthPrefixTest(FramingTestCase):

    def frame_channel(self, *prefix, data_collected=True):
        channel, recorder, peer = self.channel(data_collected)
        channel.set_terminator_length_prefix(*prefix)
        return channel, recorder, peer

    def check_frames(self, prefix, stream, payloads):
        for name, reads in splits(stream):
            with self.subTest(split=name):
                channel, recorder, peer = self.frame_channel(*prefix)
                self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.LENGTH_PREFIX)
                self.feed(channel, peer, reads)
                iterate(5)
                self.assertEqual(recorder.messages(), payloads)
                self.assertEqual(self.collected_per_message(recorder), payloads)
                self.assertFalse(recorder.is_closed())
                self.assertEqual(channel.get_collected().get_data(), b'')
                channel.close()

    def test_big_endian_4_byte_headers(self):
        stream = b''.join(struct.pack('>I', len(p)) + p for p in PAYLOADS)
        self.check_frames((4, BIG, 0, 0), stream, PAYLOADS)

    def test_little_endian_2_byte_headers(self):
        stream = b''.join(struct.pack('<H', len(p)) + p for p in PAYLOADS)
        self.check_frames((2, LITTLE, 0, 0), stream, PAYLOADS)

    def test_1_and_8_byte_headers(self):
        stream = b''.join(struct.pack('B', len(p)) + p for p in PAYLOADS[:3])
        self.check_frames((1, BIG, 0, 0), stream, PAYLOADS[:3])
        stream = b''.join(struct.pack('<Q', len(p)) + p for p in PAYLOADS)
        self.check_frames((8, LITTLE, 0, 0), stream, PAYLOADS)

    def test_header_that_counts_itself(self):
        stream = b''.join(struct.pack('>I', len(p) + 4) + p for p in PAYLOADS)
        self.check_frames((4, BIG, -4, 0), stream, PAYLOADS)

    def test_positive_adjustment(self):
        # A header that counts a 2-byte trailer the protocol does not count.
        stream = b''.join(struct.pack('>H', len(p) - 2) + p for p in PAYLOADS if len(p) >= 2)
        self.check_frames((2, BIG, 2, 0), stream, [p for p in PAYLOADS if len(p) >= 2])

    def test_big_frame(self):
        payload = bytes(i % 251 for i in range(300 * 1024))
        channel, recorder, peer = self.frame_channel(4, BIG, 0, 0, data_collected=False)
        send(peer, struct.pack('>I', len(payload)) + payload + struct.pack('>I', 1) + b'!')
        iterate_until(lambda: len(recorder.messages()) == 2 or recorder.is_closed(), 'two frames')
        self.assertEqual(recorder.messages(), [payload, b'!'])

    def test_switching_between_lines_and_frames(self):
        # A "<n>\n" line announces n frames, then lines again; each change,
        # made in the handler, applies to the bytes that follow, wherever
        # the reads were cut.
        stream = (b'2\n' + struct.pack('>H', 4) + b'a\r\nb' + struct.pack('>H', 0) +
                  b'line\n1\n' + struct.pack('>H', 3) + b'1\n2' + b'end\n')
        for name, reads in splits(stream):
            with self.subTest(split=name):
                channel, recorder, peer = self.channel()
                channel.set_terminator(b'\n')
                frames_left = 0

                def on_message(channel, message):
                    nonlocal frames_left
                    if frames_left:
                        frames_left -= 1
                    elif message.get_data().isdigit():
                        frames_left = int(message.get_data())
                    if frames_left:
                        channel.set_terminator_length_prefix(2, BIG, 0, 0)
                    else:
                        channel.set_terminator(b'\n')

                channel.connect('terminator-found', on_message)
                self.feed(channel, peer, reads)
                iterate(5)
                self.assertEqual(recorder.messages(),
                                 [b'2', b'a\r\nb', b'', b'line', b'1', b'1\n2', b'end'])
                self.assertFalse(recorder.is_closed())
                channel.close()

    def test_push_frame_parsed_by_the_peer(self):
        cases = [((4, BIG, 0, 0), '>I', 0), ((2, LITTLE, 0, 0), '<H', 0),
                 ((4, BIG, -4, 0), '>I', 4), ((8, LITTLE, 0, 0), '<Q', 0),
                 ((1, BIG, 0, 0), 'B', 0)]
        for prefix, fmt, extra in cases:
            with self.subTest(prefix=prefix):
                channel, recorder, peer = self.frame_channel(*prefix)
                for payload in PAYLOADS[:3]:
                    self.assertTrue(channel.push_frame(payload))
                self.assertTrue(channel.push_frame_bytes(GLib.Bytes.new(b'from bytes')))
                expected = PAYLOADS[:3] + [b'from bytes']
                size = struct.calcsize(fmt)
                wire = receive(peer, sum(size + len(p) for p in expected))
                frames = []
                while wire:
                    (length,) = struct.unpack(fmt, wire[:size])
                    length -= extra
                    frames.append(wire[size:size + length])
                    wire = wire[size + length:]
                self.assertEqual(frames, expected)
                self.assertTrue(nothing_to_receive(peer))
                channel.close()

    def test_push_frame_between_two_channels(self):
        a, b = socket.socketpair()
        sender = Achat.Channel(socket=Gio.Socket.new_from_fd(a.detach()))
        receiver = Achat.Channel(socket=Gio.Socket.new_from_fd(b.detach()))
        self.addCleanup(sender.close)
        self.addCleanup(receiver.close)
        for channel in (sender, receiver):
            channel.set_terminator_length_prefix(2, LITTLE, -2, 0)
        recorder = Recorder(receiver)
        for payload in PAYLOADS:
            sender.push_frame(payload)
        iterate_until(lambda: len(recorder.messages()) == len(PAYLOADS), 'the frames')
        self.assertEqual(recorder.messages(), PAYLOADS)

    def test_push_frame_too_long_for_its_header(self):
        channel, recorder, peer = self.frame_channel(1, BIG, 0, 0)
        queued = channel.get_queued_bytes()
        with self.assertRaises(GLib.Error) as caught:
            channel.push_frame(bytes(256))
        self.assert_achat_error(caught.exception, Achat.Error.FRAME_TOO_LONG)
        self.assertEqual(channel.get_queued_bytes(), queued)
        self.assertTrue(channel.push_frame(bytes(255)))
        self.assertEqual(receive(peer, 256), b'\xff' + bytes(255))
        iterate(10)
        self.assertTrue(nothing_to_receive(peer))
        self.assertFalse(recorder.is_closed())

    def test_frame_over_max_frame_length(self):
        channel, recorder, peer = self.frame_channel(4, BIG, 0, 100)
        # Output queued by the last handler before the refused header is
        # still written before the channel closes.
        channel.connect('terminator-found',
                        lambda channel, message: channel.push(b'got %d;' % len(message.get_data())))
        first, second = b'x' * 10, b'y' * 100     # 100 is the limit: accepted
        send(peer, struct.pack('>I', 10) + first + struct.pack('>I', 100) + second +
             struct.pack('>I', 101) + b'EVIL' * 25 + b'!' + struct.pack('>I', 1) + b'z')
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.messages(), [first, second])
        error = recorder.close_error()
        self.assert_achat_error(error, Achat.Error.FRAME_TOO_LONG)
        self.assertIn('101 bytes', error.message)
        # Nothing of the refused frame reached data-collected.
        self.assertEqual(recorder.simple()[-1], ('closed', error))
        self.assertFalse(any(b'EVIL' in value for kind, value in recorder.simple() if kind == 'c'))
        self.assertEqual(recorder.closed_count(), 1)
        self.assertEqual(receive_until_eof(peer), b'got 10;got 100;')

    def test_frame_over_max_frame_length_refused_at_its_header(self):
        # The header alone is enough: the channel does not wait for a
        # payload it will not take.
        channel, recorder, peer = self.frame_channel(2, LITTLE, 0, 16)
        send(peer, struct.pack('<H', 3) + b'abc' + struct.pack('<H', 0xffff))
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.messages(), [b'abc'])
        self.assert_achat_error(recorder.close_error(), Achat.Error.FRAME_TOO_LONG)
        self.assertEqual(receive_until_eof(peer), b'')

    def test_frame_over_max_input_size(self):
        for order, max_frame in (('before', 1000), ('after', 1000), ('before', 0), ('after', 0)):
            with self.subTest(max_input_size_set=order, max_frame_length=max_frame):
                gsocket, peer = self.socket_pair()
                channel = Achat.Channel(socket=gsocket)
                recorder = Recorder(channel)
                if order == 'before':
                    channel.props.max_input_size = 64
                channel.set_terminator_length_prefix(4, BIG, 0, max_frame)
                if order == 'after':
                    channel.props.max_input_size = 64
                send(peer, struct.pack('>I', 64) + b'k' * 64 + struct.pack('>I', 65) + b'EVIL' * 17)
                iterate_until(recorder.is_closed, 'the channel to close')
                self.assertEqual(recorder.messages(), [b'k' * 64])
                error = recorder.close_error()
                self.assert_achat_error(error, Achat.Error.INPUT_LIMIT)
                self.assertIn('65 bytes', error.message)
                self.assertIn('64 bytes', error.message)
                self.assertFalse(any(b'EVIL' in value for kind, value in recorder.simple() if kind == 'c'))

    def test_max_frame_length_below_max_input_size(self):
        channel, recorder, peer = self.frame_channel(4, BIG, 0, 8)
        channel.props.max_input_size = 64
        send(peer, struct.pack('>I', 9) + b'123456789')
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.messages(), [])
        self.assert_achat_error(recorder.close_error(), Achat.Error.FRAME_TOO_LONG)

    def test_header_giving_a_negative_length(self):
        channel, recorder, peer = self.frame_channel(4, BIG, -4, 0)
        send(peer, struct.pack('>I', 6) + b'ok' + struct.pack('>I', 3) + b'abc')
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.messages(), [b'ok'])
        self.assert_achat_error(recorder.close_error(), Achat.Error.INVALID_FRAME)

    def test_peer_closing_mid_frame(self):
        cases = [
            ('in the payload', struct.pack('>I', 10) + b'12345', '5 bytes before the end'),
            ('in the header', b'\x00\x00', '2 bytes'),
            ('after the header', struct.pack('>I', 10), '10 bytes before the end'),
        ]
        for name, tail, mention in cases:
            with self.subTest(where=name):
                gsocket, peer = self.socket_pair()
                channel = Achat.Channel(socket=gsocket)
                channel.set_terminator_length_prefix(4, BIG, 0, 0)
                recorder = Recorder(channel)
                self.feed(channel, peer, [struct.pack('>I', 4) + b'done', tail])
                peer.close()
                iterate_until(recorder.is_closed, 'the channel to close')
                self.assertEqual(recorder.messages(), [b'done'])
                error = recorder.close_error()
                self.assert_achat_error(error, Achat.Error.TRUNCATED_FRAME)
                self.assertIn(mention, error.message)
                self.assertEqual(recorder.closed_count(), 1)
                self.assertEqual(recorder.events[-1][0], 'closed')

    def test_peer_closing_between_frames_is_orderly(self):
        channel, recorder, peer = self.frame_channel(4, BIG, 0, 0)
        self.feed(channel, peer, [struct.pack('>I', 4) + b'done' + struct.pack('>I', 0)])
        peer.close()
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.messages(), [b'done', b''])
        self.assertIsNone(recorder.close_error())

    def test_same_messages_as_the_asynchat_idiom(self):
        """The idiom set_terminator_length_prefix() replaces: a "<len>\\r\\n"
        header line, then set_terminator_count(len) for the body (a count of
        0 means no terminator, so an empty body is handled at once)."""
        payloads = PAYLOADS + [b'tail']

        class Idiom:
            def __init__(self, channel):
                self.messages = []
                self.in_body = False
                channel.set_terminator(b'\r\n')
                channel.connect('terminator-found', self.on_message)

            def on_message(self, channel, message):
                data = message.get_data()
                if self.in_body:
                    self.messages.append(data)
                    self.in_body = False
                    channel.set_terminator(b'\r\n')
                elif int(data) == 0:
                    self.messages.append(b'')
                else:
                    self.in_body = True
                    channel.set_terminator_count(int(data))

        idiom_stream = b''.join(b'%d\r\n' % len(p) + p for p in payloads)
        frame_stream = b''.join(struct.pack('>I', len(p)) + p for p in payloads)
        for size in (1, 3, 64, 100000):
            with self.subTest(read_size=size):
                gsocket, idiom_peer = self.socket_pair()
                idiom_channel = Achat.Channel(socket=gsocket)
                idiom = Idiom(idiom_channel)
                frames, recorder, frame_peer = self.frame_channel(4, BIG, 0, 0)
                self.feed(idiom_channel, idiom_peer, chunked(idiom_stream, size))
                self.feed(frames, frame_peer, chunked(frame_stream, size))
                iterate(5)
                self.assertEqual(idiom.messages, payloads)
                self.assertEqual(recorder.messages(), idiom.messages)
                idiom_channel.close()
                frames.close()


# Lines -------------------------------------------------------------------------

BAD_LINES = [b'a\r\nb', b'a\rb', b'a\nb', b'\r', b'\n', b'line\r\n', b'\rline']


class PushLineTest(FramingTestCase):

    def line_channel_with(self, terminator):
        channel, recorder, peer = self.channel()
        channel.set_terminator(terminator)
        return channel, recorder, peer

    def test_appends_the_terminator(self):
        channel, recorder, peer = self.line_channel_with(b'\r\n')
        self.assertTrue(channel.push_line(b'hello'))
        self.assertTrue(channel.push_line(b''))
        self.assertEqual(receive(peer, 9), b'hello\r\n\r\n')

    def test_appends_the_first_of_several_terminators(self):
        channel, recorder, peer = self.channel()
        channel.set_terminators(['\n', '\r\n'])
        self.assertTrue(channel.push_line(b'hello'))
        self.assertEqual(receive(peer, 6), b'hello\n')

    def test_refuses_line_endings(self):
        for terminator in (b'\r\n', b'\n'):
            channel, recorder, peer = self.line_channel_with(terminator)
            for line in BAD_LINES:
                with self.subTest(terminator=terminator, line=line):
                    self.assertTrue(channel.push(b'before'))
                    queued = channel.get_queued_bytes()
                    self.assertGreater(queued, 0)
                    with self.assertRaises(GLib.Error) as caught:
                        channel.push_line(line)
                    self.assert_achat_error(caught.exception, Achat.Error.INVALID_LINE)
                    self.assertEqual(channel.get_queued_bytes(), queued)
                    self.assertEqual(receive(peer, 6), b'before')
                    iterate(10)
                    self.assertTrue(nothing_to_receive(peer))
            # The channel is still usable.
            self.assertTrue(channel.push_line(b'fine'))
            self.assertEqual(receive(peer, 4 + len(terminator)), b'fine' + terminator)
            self.assertFalse(recorder.is_closed())
            channel.close()

    def test_error_says_where(self):
        channel, recorder, peer = self.line_channel_with(b'\r\n')
        with self.assertRaises(GLib.Error) as caught:
            channel.push_line(b'RCPT TO:<a>\r\nDATA')
        self.assertIn('byte 11', caught.exception.message)

    def test_refuses_any_of_several_terminators(self):
        channel, recorder, peer = self.channel()
        channel.set_terminators(['\r\n', 'END'])
        for line in (b'xENDy', b'x\ny', b'x\ry'):
            with self.subTest(line=line):
                with self.assertRaises(GLib.Error) as caught:
                    channel.push_line(line)
                self.assert_achat_error(caught.exception, Achat.Error.INVALID_LINE)
        self.assertEqual(channel.get_queued_bytes(), 0)
        iterate(10)
        self.assertTrue(nothing_to_receive(peer))

    def test_non_line_ending_terminator(self):
        channel, recorder, peer = self.line_channel_with(b'\0')
        self.assertTrue(channel.push_line(b'a\r\nb'))    # not a line ending: allowed
        with self.assertRaises(GLib.Error) as caught:
            channel.push_line(b'a\0b')
        self.assert_achat_error(caught.exception, Achat.Error.INVALID_LINE)
        self.assertEqual(receive(peer, 5), b'a\r\nb\0')
        iterate(10)
        self.assertTrue(nothing_to_receive(peer))

    def test_push_line_full(self):
        channel, recorder, peer = self.line_channel_with(b'\n')
        self.assertTrue(channel.push_line_full(b'abc', b'\0'))
        self.assertTrue(channel.push_line_full(b'a\nb', b'\0'))
        for line, terminator in ((b'a\0b', b'\0'), (b'\0', b'\0'), (b'ab\0', b'\0'),
                                 (b'a\rb', b'\r\n'), (b'a\nb', b'\r\n'), (b'aXYb', b'XY')):
            with self.subTest(line=line, terminator=terminator):
                queued = channel.get_queued_bytes()
                with self.assertRaises(GLib.Error) as caught:
                    channel.push_line_full(line, terminator)
                self.assert_achat_error(caught.exception, Achat.Error.INVALID_LINE)
                self.assertEqual(channel.get_queued_bytes(), queued)
        self.assertTrue(channel.push_line_full(b'aXb', b'XY'))
        self.assertEqual(receive(peer, 4 + 4 + 5), b'abc\0a\nb\0aXbXY')
        iterate(10)
        self.assertTrue(nothing_to_receive(peer))

    def test_push_line_full_on_a_frame_channel(self):
        # The input terminator need not be a byte string.
        channel, recorder, peer = self.channel()
        channel.set_terminator_length_prefix(4, BIG, 0, 0)
        self.assertTrue(channel.push_line_full(b'HELLO', b'\r\n'))
        self.assertEqual(receive(peer, 7), b'HELLO\r\n')


# Text lengths ------------------------------------------------------------------

# The formats of set_terminator_text_length(): its arguments, and how the
# peer writes a payload in it (leading zeros and upper-case hexadecimal
# digits, which push_frame() never writes, included).
TEXT_FORMATS = {
    'decimal': ((10, '\r\n', None, 0), lambda p: b'%d\r\n' % len(p) + p),
    'netstring': ((10, ':', ',', 0), lambda p: b'%d:' % len(p) + p + b','),
    'chunk': ((16, '\r\n', '\r\n', 0), lambda p: b'%x\r\n' % len(p) + p + b'\r\n'),
    'chunk-upper': ((16, '\r\n', '\r\n', 0), lambda p: b'%X\r\n' % len(p) + p + b'\r\n'),
    'long': ((16, ' |sep| ', '<<end>>', 0), lambda p: b'%03x |sep| ' % len(p) + p + b'<<end>>'),
}

# Payloads holding separators, trailers and whole frames of each format;
# 26 and 31 bytes for hexadecimal lengths with letters.
TEXT_PAYLOADS = [b'hello', b'', b'5:a,b,', b'\r\n', b'1a\r\nxx\r\n', b',', b'', b':',
                 bytes(range(26)), b'<<end>> |sep| ' + bytes(range(250, 256)) + b'<<e', b'\0' * 31]


def text_stream(name, payloads=TEXT_PAYLOADS):
    encode = TEXT_FORMATS[name][1]
    return b''.join(encode(p) for p in payloads)


def two_writes_and_bytewise(data):
    """The stream in one write, cut in two at every byte, one byte per
    write."""
    yield 'whole', [data]
    for cut in range(1, len(data)):
        yield f'cut at {cut}', [data[:cut], data[cut:]]
    yield 'bytewise', chunked(data, 1)


class TerminatorFoundText(Achat.Channel):
    """do_terminator_found(): a GLib.Bytes per message."""

    def do_terminator_found(self, message):
        if not isinstance(message, GLib.Bytes):
            self.wrong.append(f'do_terminator_found() given {message!r}')
        self.got.append(message.get_data() or b'')


class MessageFoundText(Achat.Channel):
    """do_message_found(): plain bytes per message."""

    def do_message_found(self, data, length):
        if not isinstance(data, bytes) or len(data) != length:
            self.wrong.append(f'do_message_found() given {data!r}, {length}')
        self.got.append(bytes(data))


class MessagesFoundText(Achat.Channel):
    """do_messages_found(): every whole message of a read in one call."""

    def do_messages_found(self, data, bounds, n_bounds):
        raw = data.get_data() or b''
        if n_bounds != len(bounds) or not bounds or len(bounds) % 2:
            self.wrong.append(f'{len(bounds)} bounds, n_bounds {n_bounds}')
        for i, bound in enumerate(bounds):
            if bound > len(raw) or (i > 0 and bound < bounds[i - 1]):
                self.wrong.append(f'bounds {list(bounds)} out of order or past {len(raw)} bytes')
        self.got.extend(raw[bounds[i]:bounds[i + 1]] for i in range(0, len(bounds), 2))
        self.calls.append((raw, list(bounds)))
        return len(bounds) // 2


class SignalText:
    """A plain Achat.Channel, a 'terminator-found' handler connected (and
    'data-collected' too with @collect)."""

    def __init__(self, collect):
        self.collect = collect

    def __call__(self, socket):
        channel = Achat.Channel(socket=socket)
        channel.recorder = Recorder(channel, data_collected=self.collect)
        return channel


# The delivery styles of the handler kind: a channel maker, and how to get
# the messages from the channel.
HANDLER_STYLES = {
    'do_terminator_found': TerminatorFoundText,
    'do_message_found': MessageFoundText,
    'do_messages_found': MessagesFoundText,
    'signal': SignalText(False),
    'signal+data-collected': SignalText(True),
}

pull_loop = None


def asyncio_loop():
    """asyncio on GLib's main loop, set up for the pull tests only (the
    rest of this file iterates the main context by hand)."""
    global pull_loop
    if pull_loop is None:
        pull_loop = glib_asyncio()
    return pull_loop


class TextLengthTestCase(FramingTestCase):

    def text_channel(self, name_or_args, channel_type=Achat.Channel, data_collected=True):
        args = TEXT_FORMATS[name_or_args][0] if isinstance(name_or_args, str) else name_or_args
        gsocket, peer = self.socket_pair()
        channel = channel_type(socket=gsocket)
        channel.set_terminator_text_length(*args)
        return channel, Recorder(channel, data_collected), peer

    def run_handler_style(self, style, args, reads):
        """@reads through a channel of @style (HANDLER_STYLES), then the
        peer closes; returns the messages, the close error, the channel."""
        gsocket, peer = self.socket_pair()
        channel = HANDLER_STYLES[style](socket=gsocket)
        channel.got, channel.wrong, channel.calls = [], [], []
        channel.set_terminator_text_length(*args)
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH)
        closed = []
        channel.connect('closed', lambda c, error: closed.append(error))
        self.feed(channel, peer, reads)
        peer.close()
        iterate_until(lambda: closed, 'the channel to close')
        iterate(2)
        self.assertEqual(channel.wrong, [])
        self.assertEqual(len(closed), 1)
        if style.startswith('signal'):
            recorder = channel.recorder
            got = recorder.messages()
            if style == 'signal+data-collected':
                # The default handler built each message from the pieces
                # data-collected had: none of a header or trailer.
                self.assertEqual(self.collected_per_message(recorder), got)
        else:
            got = channel.got
        return got, closed[0], channel

    def run_pull_style(self, args, reads):
        """@reads read by `await channel.read_message()` until the end;
        returns the messages and the error the last read raised."""
        loop = asyncio_loop()
        gsocket, peer = self.socket_pair()
        channel = Achat.Channel(socket=gsocket)
        self.addCleanup(channel.close)
        channel.set_terminator_text_length(*args)
        got = []
        end = []

        async def reader():
            try:
                while (message := await channel.read_message()) is not None:
                    got.append(message.get_data() or b'')
                    if len(got) > 1000:
                        raise AssertionError('more than 1000 messages')
                end.append(None)
            except GLib.Error as error:
                end.append(error)

        async def run():
            task = asyncio.ensure_future(reader())
            await asyncio.sleep(0)      # the first read is under way
            total = 0
            for piece in reads:
                await loop.sock_sendall(peer, piece)
                total += len(piece)
                deadline = time.monotonic() + TIMEOUT
                while channel.get_bytes_received() < total and not task.done():
                    if time.monotonic() > deadline:
                        raise AssertionError(f'timed out reading {total} bytes')
                    await asyncio.sleep(0)
            peer.close()
            await asyncio.wait_for(task, TIMEOUT)

        loop.run_until_complete(asyncio.wait_for(run(), 4 * TIMEOUT))
        return got, end[0], channel

    def check_every_split(self, style, name):
        args = TEXT_FORMATS[name][0]
        stream = text_stream(name)
        failures = []
        for split, reads in two_writes_and_bytewise(stream):
            if style == 'pull':
                got, error, channel = self.run_pull_style(args, reads)
            else:
                got, error, channel = self.run_handler_style(style, args, reads)
            if got != TEXT_PAYLOADS or error is not None:
                failures.append(f'{split}: {got!r}, {error and error.message}')
            elif channel.get_bytes_received() != len(stream):
                failures.append(f'{split}: {channel.get_bytes_received()} bytes received')
            channel.close()
            if len(failures) >= 3:
                break
        self.assertEqual(failures, [], f'{style}, {name}')


class TextLengthSplitTest(TextLengthTestCase):
    """Each format, the stream in one write, cut in two at every byte and
    one byte per write, through each delivery style (added below)."""


def _add_text_split_tests():
    def make(style, name):
        return lambda self: self.check_every_split(style, name)

    for style in list(HANDLER_STYLES) + ['pull']:
        for name in TEXT_FORMATS:
            test_name = f'test_{name}_{style}'.replace('-', '_').replace('+', '_')
            setattr(TextLengthSplitTest, test_name, make(style, name))


_add_text_split_tests()


class TextLengthWholeReadTest(TextLengthTestCase):
    """What do_messages_found() is shown for frames in text lengths: the
    bytes from the first payload through the last trailer, bounds around
    the payloads only."""

    def show(self, args, stream):
        channel, recorder, peer = self.text_channel(args, MessagesFoundText, data_collected=False)
        channel.got, channel.wrong, channel.calls = [], [], []
        send(peer, stream)
        iterate_until(lambda: channel.get_bytes_received() >= len(stream) and channel.calls,
                      'the bytes to arrive')
        iterate(10)
        self.assertEqual(channel.wrong, [])
        return channel.calls, channel

    def test_netstrings_of_one_read_in_one_call(self):
        calls, channel = self.show((10, ':', ',', 0), b'5:hello,0:,3:a,b,2:xy')
        self.assertEqual(calls, [(b'hello,0:,3:a,b,', [0, 5, 8, 8, 11, 14])])
        # The frame not finished is not a message: its payload so far is
        # collected, without its header.
        self.assertEqual(channel.get_collected().get_data() or b'', b'xy')
        self.assertEqual(channel.got, [b'hello', b'', b'a,b'])

    def test_chunks_of_one_read_in_one_call(self):
        calls, channel = self.show((16, '\r\n', '\r\n', 0),
                                   b'1A\r\n' + b'z' * 26 + b'\r\n0\r\n\r\n003\r\n\r\n\r\r\n')
        self.assertEqual(calls, [(b'z' * 26 + b'\r\n0\r\n\r\n003\r\n\r\n\r\r\n',
                                  [0, 26, 31, 31, 38, 41])])

    def test_every_message_of_a_long_read_in_one_call(self):
        payloads = [bytes([i % 256]) * (i % 37) for i in range(500)]
        stream = b''.join(b'%d:' % len(p) + p + b',' for p in payloads)
        calls, channel = self.show((10, ':', ',', 0), stream)
        self.assertEqual(channel.got, payloads)
        self.assertLess(len(calls), 10)

    def test_a_frame_begun_in_an_earlier_read_comes_alone(self):
        channel, recorder, peer = self.text_channel((10, ':', ',', 0), MessagesFoundText,
                                                    data_collected=False)
        channel.got, channel.wrong, channel.calls = [], [], []
        self.feed(channel, peer, [b'5:he', b'llo,1:x,', b'2:ab', b',', b'0:', b',0:,'])
        iterate(5)
        self.assertEqual(channel.wrong, [])
        self.assertEqual(channel.got, [b'hello', b'x', b'ab', b'', b''])
        self.assertEqual([bounds for raw, bounds in channel.calls],
                         [[0, 5], [0, 1], [0, 2], [0, 0], [0, 0]])


class TextLengthTest(TextLengthTestCase):

    def test_getters(self):
        channel, recorder, peer = self.text_channel('netstring')
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH)
        self.assertFalse(channel.get_terminator())
        channel.set_terminator(b'\n')
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES)
        channel.set_terminator_text_length(16, '\r\n', None, 100)
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH)
        channel.set_terminator_length_prefix(4, BIG, 0, 0)
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.LENGTH_PREFIX)

    def test_trailer_none_and_empty_are_the_same(self):
        for trailer in (None, ''):
            with self.subTest(trailer=trailer):
                channel, recorder, peer = self.text_channel((10, '\n', trailer, 0))
                self.feed(channel, peer, [b'3\nabc0\n2\n\n\n'])
                iterate(5)
                self.assertEqual(recorder.messages(), [b'abc', b'', b'\n\n'])
                self.assertFalse(recorder.is_closed())
                channel.close()

    def test_separators_that_look_like_digits_in_another_radix(self):
        # "a" ends a decimal length, "x" a hexadecimal one; an 8-byte
        # separator and trailer of UTF-8 text (4 two-byte characters).
        cases = [((10, 'a', None, 0), b'5ahello12abcdefghijkla0a', [b'hello', b'bcdefghijkla', b'']),
                 ((16, 'x', ';', 0), b'fxabcdefghijklmno;0x;Cxqwertyuiopas;',
                  [b'abcdefghijklmno', b'', b'qwertyuiopas']),
                 ((10, 'éèàç', 'ç€', 0), '4éèàçdataç€0éèàçç€'.encode(), [b'data', b''])]
        for args, stream, messages in cases:
            for name, reads in splits(stream):
                with self.subTest(args=args, split=name):
                    channel, recorder, peer = self.text_channel(args)
                    self.feed(channel, peer, reads)
                    iterate(5)
                    self.assertEqual(recorder.messages(), messages)
                    self.assertFalse(recorder.is_closed())
                    channel.close()

    def test_longest_lengths(self):
        # 20 decimal and 16 hexadecimal digits, leading zeros included.
        cases = [((10, ':', ',', 0), b'00000000000000000005:hello,'),
                 ((16, '\r\n', '\r\n', 0), b'000000000000000A\r\n0123456789\r\n')]
        for args, stream in cases:
            for name, reads in splits(stream):
                with self.subTest(args=args, split=name):
                    channel, recorder, peer = self.text_channel(args)
                    self.feed(channel, peer, reads)
                    iterate(5)
                    self.assertEqual(len(recorder.messages()), 1)
                    self.assertFalse(recorder.is_closed())
                    channel.close()

    def test_big_frame(self):
        payload = bytes(i % 251 for i in range(300 * 1024))
        channel, recorder, peer = self.text_channel('chunk', data_collected=False)
        send(peer, b'%x\r\n' % len(payload) + payload + b'\r\n1\r\n!\r\n')
        iterate_until(lambda: len(recorder.messages()) == 2 or recorder.is_closed(), 'two frames')
        self.assertEqual(recorder.messages(), [payload, b'!'])

    def test_switching_between_lines_and_netstrings_in_the_handler(self):
        # "<n>\n" announces n netstrings, then lines again; each change,
        # made in the handler, applies to the bytes that follow.
        stream = b'2\n4:a\r\nb,0:,line\n1\n3:1\n2,end\n'
        for name, reads in splits(stream):
            with self.subTest(split=name):
                channel, recorder, peer = self.channel()
                channel.set_terminator(b'\n')
                frames_left = 0

                def on_message(channel, message):
                    nonlocal frames_left
                    if frames_left:
                        frames_left -= 1
                    elif message.get_data().isdigit():
                        frames_left = int(message.get_data())
                    if frames_left:
                        channel.set_terminator_text_length(10, ':', ',', 0)
                    else:
                        channel.set_terminator(b'\n')

                channel.connect('terminator-found', on_message)
                self.feed(channel, peer, reads)
                iterate(5)
                self.assertEqual(recorder.messages(),
                                 [b'2', b'a\r\nb', b'', b'line', b'1', b'1\n2', b'end'])
                self.assertFalse(recorder.is_closed())
                channel.close()

    def test_same_messages_as_the_asynchat_idiom(self):
        """The idiom it replaces: a "<len>\\r\\n" line, then a count for
        the body (and a line for the chunk's "\\r\\n")."""
        payloads = TEXT_PAYLOADS + [b'tail']
        stream = text_stream('chunk', payloads)

        class Idiom:
            def __init__(self, channel):
                self.messages = []
                self.state = 'size'
                channel.set_terminator(b'\r\n')
                channel.connect('terminator-found', self.on_message)

            def on_message(self, channel, message):
                data = message.get_data() or b''
                if self.state == 'body':
                    self.messages.append(data)
                    self.state = 'crlf'
                    channel.set_terminator(b'\r\n')
                elif self.state == 'crlf':
                    self.state = 'size'
                elif int(data, 16) == 0:
                    self.messages.append(b'')
                    self.state = 'crlf'
                else:
                    self.state = 'body'
                    channel.set_terminator_count(int(data, 16))

        for size in (1, 3, 64, 100000):
            with self.subTest(read_size=size):
                gsocket, idiom_peer = self.socket_pair()
                idiom_channel = Achat.Channel(socket=gsocket)
                idiom = Idiom(idiom_channel)
                frames, recorder, frame_peer = self.text_channel('chunk')
                self.feed(idiom_channel, idiom_peer, chunked(stream, size))
                self.feed(frames, frame_peer, chunked(stream, size))
                iterate(5)
                self.assertEqual(idiom.messages, payloads)
                self.assertEqual(recorder.messages(), idiom.messages)
                idiom_channel.close()
                frames.close()

    def test_pull_with_read_message_async_callbacks(self):
        # The GIO pair, the next read started from the callback.
        for name in TEXT_FORMATS:
            stream = text_stream(name)
            for split, reads in [('whole', [stream]), ('by 3', chunked(stream, 3))]:
                with self.subTest(format=name, split=split):
                    gsocket, peer = self.socket_pair()
                    channel = Achat.Channel(socket=gsocket)
                    channel.set_terminator_text_length(*TEXT_FORMATS[name][0])
                    got, end = [], []

                    def on_read(channel, result):
                        try:
                            message = channel.read_message_finish(result)
                        except GLib.Error as error:
                            end.append(error)
                            return
                        if message is None:
                            end.append(None)
                            return
                        got.append(message.get_data() or b'')
                        channel.read_message_async(None, on_read)

                    channel.read_message_async(None, on_read)
                    for piece in reads:
                        send(peer, piece)
                    peer.close()
                    iterate_until(lambda: end, 'the end of the stream')
                    self.assertEqual(got, TEXT_PAYLOADS)
                    self.assertEqual(end, [None])
                    channel.close()

    def test_pull_cut_short_is_a_truncated_frame(self):
        # As with binary length prefixes: the read after the last whole
        # frame fails with TRUNCATED_FRAME, saying where the frame was cut.
        loop = asyncio_loop()
        for tail, mention in ((b'5:hel', '2 bytes before the end'),
                              (b'5:hello', 'trailer ","'), (b'5', 'header'), (b'12', 'header')):
            with self.subTest(tail=tail):
                gsocket, peer = self.socket_pair()
                channel = Achat.Channel(socket=gsocket)
                self.addCleanup(channel.close)
                channel.set_terminator_text_length(10, ':', ',', 0)

                async def read_all():
                    first = await channel.read_message()
                    try:
                        second = await channel.read_message()
                    except GLib.Error as error:
                        return first, error
                    return first, second

                send(peer, b'2:ok,' + tail)
                peer.close()
                first, second = loop.run_until_complete(asyncio.wait_for(read_all(), TIMEOUT))
                self.assertEqual(first.get_data(), b'ok')
                self.assert_achat_error(second, Achat.Error.TRUNCATED_FRAME)
                self.assertIn(mention, second.message)


# push_frame() in text lengths -------------------------------------------------------

class TextPushFrameTest(TextLengthTestCase):

    def test_wire_format(self):
        payloads = [b'hello', b'', b'5:a,b,', b'\r\n0\r\n\r\n', bytes(range(256))]
        for name in ('decimal', 'netstring', 'chunk', 'long'):
            with self.subTest(format=name):
                channel, recorder, peer = self.text_channel(name)
                for payload in payloads[:-1]:
                    self.assertTrue(channel.push_frame(payload))
                self.assertTrue(channel.push_frame_bytes(GLib.Bytes.new(payloads[-1])))
                # Lengths without leading zeros, hexadecimal in lower case.
                encode = {'long': lambda p: b'%x |sep| ' % len(p) + p + b'<<end>>'}.get(
                    name, TEXT_FORMATS[name][1])
                expected = b''.join(encode(p) for p in payloads)
                self.assertEqual(receive(peer, len(expected)), expected)
                iterate(10)
                self.assertTrue(nothing_to_receive(peer))
                channel.close()

    def test_exact_bytes(self):
        channel, recorder, peer = self.text_channel('chunk')
        channel.push_frame(b'x' * 0xabc)
        channel.push_frame(b'')
        self.assertEqual(receive(peer, 5 + 0xabc + 2 + 5), b'abc\r\n' + b'x' * 0xabc + b'\r\n0\r\n\r\n')
        channel.set_terminator_text_length(10, ':', ',', 0)
        channel.push_frame_bytes(GLib.Bytes.new(b'y' * 1234567))
        self.assertEqual(receive(peer, 8 + 1234567 + 1), b'1234567:' + b'y' * 1234567 + b',')

    def test_between_two_channels(self):
        payloads = TEXT_PAYLOADS + [bytes(i % 256 for i in range(70000))]
        for name in TEXT_FORMATS:
            with self.subTest(format=name):
                a, b = socket.socketpair()
                sender = Achat.Channel(socket=Gio.Socket.new_from_fd(a.detach()))
                receiver = Achat.Channel(socket=Gio.Socket.new_from_fd(b.detach()))
                for channel in (sender, receiver):
                    channel.set_terminator_text_length(*TEXT_FORMATS[name][0])
                recorder = Recorder(receiver)
                for payload in payloads:
                    self.assertTrue(sender.push_frame(payload))
                self.assertTrue(sender.push_frame_bytes(GLib.Bytes.new(b'last')))
                iterate_until(lambda: len(recorder.messages()) == len(payloads) + 1
                              or recorder.is_closed(), 'the frames')
                self.assertEqual(recorder.messages(), payloads + [b'last'])
                sender.close()
                receiver.close()

    def test_the_last_setting_shapes_push_frame(self):
        channel, recorder, peer = self.channel()
        channel.set_terminator_text_length(10, ':', ',', 0)
        channel.set_terminator_length_prefix(2, BIG, 0, 0)
        channel.push_frame(b'ab')
        channel.set_terminator_text_length(16, '\r\n', None, 0)
        channel.push_frame(b'c' * 16)
        # Input framed by lines: frames are still pushed in the last setting.
        channel.set_terminator(b'\n')
        channel.push_frame(b'd')
        self.assertEqual(receive(peer, 4 + 4 + 16 + 4),
                         b'\x00\x02ab' + b'10\r\n' + b'c' * 16 + b'1\r\nd')

    def test_push_frame_before_any_length_setting(self):
        channel, recorder, peer = self.channel()
        channel.set_terminator(b'\n')
        with LogCapture('Achat') as log:
            self.assertFalse(channel.push_frame(b'x'))
            self.assertFalse(channel.push_frame_bytes(GLib.Bytes.new(b'x')))
        self.assertEqual(len(log.messages), 2, log.messages)
        for message in log.messages:
            self.assertIn('set_terminator_text_length() first', message)
        self.assertEqual(channel.get_queued_bytes(), 0)

    def test_push_frame_on_a_closing_channel(self):
        channel, recorder, peer = self.text_channel('netstring')
        channel.push_frame(b'bye')
        channel.close_when_done()
        with LogCapture('Achat') as log:
            self.assertFalse(channel.push_frame(b'late'))
        self.assertEqual(len(log.messages), 1, log.messages)
        self.assertEqual(receive_until_eof(peer), b'3:bye,')


# Refusals: each error, with the closed signal ---------------------------------------

class TextLengthErrorTest(TextLengthTestCase):

    def feed_until_closed(self, channel, peer, reads):
        """feed(), the reads after the channel closed left unsent (its
        end of the socket is gone)."""
        for chunk in reads:
            if channel.is_closed():
                break
            self.feed(channel, peer, [chunk])

    def closes_with(self, args, reads, code, messages=(), mention=None, max_input_size=None):
        """Feeds @reads in every split; the channel must deliver @messages,
        nothing of the refused frame, then close once with @code."""
        stream = b''.join(reads)
        for name, split_reads in [('as given', reads)] + list(splits(stream)):
            with self.subTest(args=args, stream=stream, split=name):
                channel, recorder, peer = self.text_channel(args)
                if max_input_size is not None:
                    channel.props.max_input_size = max_input_size
                self.feed_until_closed(channel, peer, split_reads)
                iterate_until(recorder.is_closed, 'the channel to close')
                iterate(5)
                self.assertEqual(recorder.messages(), list(messages))
                self.assertEqual(recorder.closed_count(), 1)
                self.assertEqual(recorder.events[-1][0], 'closed')
                error = recorder.close_error()
                self.assert_achat_error(error, code)
                if mention is not None:
                    self.assertIn(mention, error.message)
                self.assertFalse(any(b'EVIL' in value for kind, value in recorder.simple()
                                     if kind == 'c'))

    def test_bad_headers_are_invalid_frames(self):
        netstring, ok_netstring = (10, ':', ',', 0), b'2:ok,'
        chunk, ok_chunk = (16, '\r\n', '\r\n', 0), b'2\r\nok\r\n'
        cases = [
            (netstring, ok_netstring, b'-5:EVIL!,'), (netstring, ok_netstring, b'+5:EVIL!,'),
            (netstring, ok_netstring, b' 5:EVIL!,'), (netstring, ok_netstring, b'5 :EVIL!,'),
            (netstring, ok_netstring, b':EVIL,'), (netstring, ok_netstring, b'5;EVIL!,'),
            (netstring, ok_netstring, b'a:EVIL,'), (netstring, ok_netstring, b'0x5:EVIL!,'),
            (netstring, ok_netstring, b'\r\n'),
            (netstring, ok_netstring, b'000000000000000000004:EVIL,'),   # 21 digits
            (chunk, ok_chunk, b'g\r\nEVIL\r\n'), (chunk, ok_chunk, b'4\nEVIL\r\n'),
            (chunk, ok_chunk, b'4;ext\r\nEVIL\r\n'),
            (chunk, ok_chunk, b'00000000000000004\r\nEVIL\r\n'),       # 17 digits
            ((16, ' |sep| ', '<<end>>', 0), b'2 |sep| ok<<end>>', b'4 |sep|EVIL<<end>>'),
        ]
        for args, good, bad in cases:
            self.closes_with(args, [good, bad], Achat.Error.INVALID_FRAME, [b'ok'], 'length header')

    def test_wrong_trailers_are_invalid_frames(self):
        # (The payload before a wrong trailer may have reached
        # data-collected; no message is made of it.)
        cases = [((10, ':', ',', 0), b'2:ok,', b'4:bad!;'),
                 ((10, ':', ',', 0), b'2:ok,', b'4:bad!4:bad!,'),
                 ((16, '\r\n', '\r\n', 0), b'2\r\nok\r\n', b'4\r\nbad!\n\r'),
                 ((16, '\r\n', '\r\n', 0), b'2\r\nok\r\n', b'4\r\nbad!\r\r'),
                 ((16, '\r\n', '\r\n', 0), b'2\r\nok\r\n', b'0\r\nX'),
                 ((16, ' |sep| ', '<<end>>', 0), b'2 |sep| ok<<end>>', b'4 |sep| bad!<<end>!')]
        for args, good, bad in cases:
            self.closes_with(args, [good, bad], Achat.Error.INVALID_FRAME, [b'ok'], 'trailer')

    def test_frame_over_max_frame_length(self):
        # Refused at its header: nothing of it is buffered or delivered.
        self.closes_with((10, ':', ',', 100), [b'10:' + b'x' * 10 + b',100:' + b'y' * 100 + b',',
                                                 b'101:' + b'EVIL' * 25 + b'!,'],
                         Achat.Error.FRAME_TOO_LONG, [b'x' * 10, b'y' * 100], '101 bytes')
        self.closes_with((16, '\r\n', '\r\n', 15), [b'f\r\n' + b'z' * 15 + b'\r\n', b'10\r\n'],
                         Achat.Error.FRAME_TOO_LONG, [b'z' * 15], '16 bytes')

    def test_output_queued_before_a_refused_header_is_written(self):
        channel, recorder, peer = self.text_channel((10, ':', ',', 4))
        channel.connect('terminator-found',
                        lambda channel, message: channel.push_frame(message.get_data() or b''))
        send(peer, b'1:a,0:,4:abcd,5:EVIL!,1:z,')
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assert_achat_error(recorder.close_error(), Achat.Error.FRAME_TOO_LONG)
        self.assertEqual(receive_until_eof(peer), b'1:a,0:,4:abcd,')

    def test_lengths_past_64_bits(self):
        # Past 64 bits, with no limit set: too long for any frame.
        for header in (b'18446744073709551616:', b'99999999999999999999:'):
            self.closes_with((10, ':', ',', 0), [header], Achat.Error.FRAME_TOO_LONG, [],
                             '18446744073709551615 bytes', max_input_size=0)
        # UINT64_MAX itself is a length, refused by max-input-size (1 MiB);
        # so is one past 64 bits, as a binary header's overflow is.
        for args, header in (((10, ':', ',', 0), b'18446744073709551615:'),
                             ((10, ':', ',', 0), b'18446744073709551616:'),
                             ((16, '\r\n', None, 0), b'FFFFFFFFFFFFFFFF\r\n')):
            self.closes_with(args, [header], Achat.Error.INPUT_LIMIT, [],
                             '18446744073709551615 bytes')

    def test_frame_over_max_input_size(self):
        for order, max_frame in (('before', 1000), ('after', 1000), ('before', 0), ('after', 0)):
            with self.subTest(max_input_size_set=order, max_frame_length=max_frame):
                gsocket, peer = self.socket_pair()
                channel = Achat.Channel(socket=gsocket)
                recorder = Recorder(channel)
                if order == 'before':
                    channel.props.max_input_size = 64
                channel.set_terminator_text_length(10, ':', ',', max_frame)
                if order == 'after':
                    channel.props.max_input_size = 64
                send(peer, b'64:' + b'k' * 64 + b',65:' + b'EVIL' * 17)
                iterate_until(recorder.is_closed, 'the channel to close')
                self.assertEqual(recorder.messages(), [b'k' * 64])
                error = recorder.close_error()
                self.assert_achat_error(error, Achat.Error.INPUT_LIMIT)
                self.assertIn('65 bytes', error.message)
                self.assertIn('64 bytes', error.message)
                self.assertFalse(any(b'EVIL' in value for kind, value in recorder.simple()
                                     if kind == 'c'))

    def test_max_frame_length_below_max_input_size(self):
        self.closes_with((10, ':', ',', 8), [b'9:123456789,'], Achat.Error.FRAME_TOO_LONG,
                         [], '9 bytes', max_input_size=64)

    def test_peer_closing_mid_frame(self):
        netstring = (10, ':', ',', 0)
        chunk = (16, '\r\n', '\r\n', 0)
        cases = [
            (netstring, b'5:12', 'in the payload', '3 bytes before the end'),
            (netstring, b'5:', 'after the header', '5 bytes before the end'),
            (netstring, b'12', 'in the header', 'header'),
            (netstring, b'5:hello', 'before the trailer', 'trailer ","'),
            (netstring, b'0:', 'an empty payload, before the trailer', 'trailer ","'),
            (chunk, b'1a', 'in the header', 'header'),
            (chunk, b'1a\r', 'in the separator', 'header'),
            (chunk, b'2\r\nab\r', 'in the trailer', 'trailer "\\r\\n"'),
            ((10, '\r\n', None, 0), b'3\r\nab', 'no trailer: in the payload', '1 bytes before the end'),
        ]
        for args, tail, where, mention in cases:
            with self.subTest(where=where, tail=tail):
                channel, recorder, peer = self.text_channel(args)
                done = (b'4:done,' if args == netstring else
                        b'4\r\ndone\r\n' if args == chunk else b'4\r\ndone')
                self.feed(channel, peer, [done, tail])
                peer.close()
                iterate_until(recorder.is_closed, 'the channel to close')
                self.assertEqual(recorder.messages(), [b'done'])
                error = recorder.close_error()
                self.assert_achat_error(error, Achat.Error.TRUNCATED_FRAME)
                self.assertIn(mention, error.message)
                self.assertEqual(recorder.closed_count(), 1)
                self.assertEqual(recorder.events[-1][0], 'closed')

    def test_peer_closing_between_frames_is_orderly(self):
        for name in TEXT_FORMATS:
            with self.subTest(format=name):
                channel, recorder, peer = self.text_channel(name)
                self.feed(channel, peer, [text_stream(name, [b'done', b''])])
                peer.close()
                iterate_until(recorder.is_closed, 'the channel to close')
                self.assertEqual(recorder.messages(), [b'done', b''])
                self.assertIsNone(recorder.close_error())


# Arguments ----------------------------------------------------------------------

class TextLengthArgumentsTest(TextLengthTestCase):

    def test_refused_arguments_are_criticals_and_change_nothing(self):
        refused = [
            ((0, ':', ',', 0), 'radix'), ((8, ':', ',', 0), 'radix'), ((36, ':', ',', 0), 'radix'),
            ((10, '', ',', 0), 'sep_len'), ((10, '123456789', ',', 0), 'sep_len'),
            ((10, 'ééééé', None, 0), 'sep_len'),              # 10 bytes of UTF-8
            ((10, ':', '123456789', 0), 'trailer_len'), ((10, ':', 'ééééé', 0), 'trailer_len'),
            ((10, '0', ',', 0), 'isdigit'), ((10, '9:', ',', 0), 'isdigit'),
            ((16, 'a', ',', 0), 'isxdigit'), ((16, 'F\r\n', ',', 0), 'isxdigit'),
            ((16, '7', ',', 0), 'isdigit'),
        ]
        channel, recorder, peer = self.channel()
        channel.set_terminator_text_length(10, ':', ',', 0)
        for args, mention in refused:
            with self.subTest(args=args):
                with LogCapture('Achat') as log:
                    channel.set_terminator_text_length(*args)
                self.assertEqual(len(log.messages), 1, log.messages)
                self.assertIn('set_terminator_text_length', log.messages[0])
                self.assertIn(mention, log.messages[0])
        # The netstrings set first are still in force, for input and output.
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH)
        self.feed(channel, peer, [b'3:a:b,'])
        iterate(5)
        self.assertEqual(recorder.messages(), [b'a:b'])
        channel.push_frame(b'xy')
        self.assertEqual(receive(peer, 5), b'2:xy,')
        self.assertFalse(recorder.is_closed())

    def test_accepted_limits(self):
        with LogCapture('Achat') as log:
            channel, recorder, peer = self.text_channel((16, 'x' * 8, 'y' * 8, 0))
            channel.set_terminator_text_length(10, 'éèàç', 'ç€', 2 ** 64 - 1)
            channel.set_terminator_text_length(10, 'a', '', 0)
            channel.set_terminator_text_length(16, 'g', None, 0)
        self.assertEqual(log.messages, [])
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH)

    def test_none_separator_is_a_type_error(self):
        channel, recorder, peer = self.channel()
        with self.assertRaises(TypeError):
            channel.set_terminator_text_length(10, None, ',', 0)
        with self.assertRaises((TypeError, OverflowError)):
            channel.set_terminator_text_length(10, ':', ',', -1)
        self.assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.NONE)


# Volume ---------------------------------------------------------------------------

VOLUME_NETSTRINGS = 200000
VOLUME_GC_EVERY = 10000
VOLUME_TIMEOUT = 600.0 if os.environ.get('ACHAT_TEST_MEMORY_TOOL') else 90.0


def volume_netstrings(count, seed):
    """@count netstrings of random lengths 0 to 100 (seeded), and the CRC-32
    of their payloads, each followed by its length as 4 bytes."""
    rng = random.Random(seed)
    pieces = []
    crc = 0
    for i in range(count):
        payload = rng.randbytes(rng.randint(0, 100))
        crc = zlib.crc32(struct.pack('<I', len(payload)), zlib.crc32(payload, crc))
        pieces.append(b'%d:%s,' % (len(payload), payload))
    return b''.join(pieces), crc


class VolumeTextChannel(Achat.Channel):
    """Counts and checksums netstrings in do_terminator_found(), a
    gc.collect() every VOLUME_GC_EVERY."""

    def do_terminator_found(self, message):
        payload = message.get_data() or b''
        self.crc = zlib.crc32(struct.pack('<I', len(payload)), zlib.crc32(payload, self.crc))
        self.count += 1
        if self.count % VOLUME_GC_EVERY == 0:
            gc.collect()
            self.collections += 1


class VolumeWholeTextChannel(Achat.Channel):
    """The same in do_messages_found()."""

    def do_messages_found(self, data, bounds, n_bounds):
        raw = data.get_data() or b''
        crc = self.crc
        for i in range(0, len(bounds), 2):
            payload = raw[bounds[i]:bounds[i + 1]]
            crc = zlib.crc32(struct.pack('<I', len(payload)), zlib.crc32(payload, crc))
        before = self.count
        self.count += len(bounds) // 2
        self.crc = crc
        self.calls += 1
        if self.count // VOLUME_GC_EVERY != before // VOLUME_GC_EVERY:
            gc.collect()
            self.collections += 1
        return len(bounds) // 2


class TextVolumeTest(unittest.TestCase):

    def run_volume(self, channel_type, seed):
        wire, expected_crc = volume_netstrings(VOLUME_NETSTRINGS, seed)
        ours, peer = socket.socketpair()
        self.addCleanup(peer.close)
        peer.settimeout(VOLUME_TIMEOUT)     # blocking, in the writer thread
        channel = channel_type(socket=Gio.Socket.new_from_fd(ours.detach()))
        self.addCleanup(channel.close)
        channel.crc = channel.count = channel.calls = channel.collections = 0
        channel.set_terminator_text_length(10, ':', ',', 0)
        closed = []
        channel.connect('closed', lambda c, error: closed.append(error))
        thread = Writer(peer, wire)
        started = time.monotonic()
        thread.start()
        iterate_until(lambda: closed, f'{VOLUME_NETSTRINGS} netstrings', VOLUME_TIMEOUT)
        elapsed = time.monotonic() - started
        thread.join(TIMEOUT)
        self.assertFalse(thread.is_alive())
        self.assertIsNone(thread.error)
        self.assertEqual(closed, [None])
        self.assertEqual(channel.count, VOLUME_NETSTRINGS)
        self.assertEqual(channel.crc, expected_crc)
        self.assertEqual(channel.get_bytes_received(), len(wire))
        self.assertEqual(channel.collections, VOLUME_NETSTRINGS // VOLUME_GC_EVERY)
        print(f'# {VOLUME_NETSTRINGS} netstrings ({len(wire)} bytes) in {elapsed:.2f} s'
              + (f', {channel.calls} calls' if channel.calls else ''))
        return channel

    def test_netstrings_in_do_terminator_found(self):
        self.run_volume(VolumeTextChannel, 1)

    def test_netstrings_in_do_messages_found(self):
        channel = self.run_volume(VolumeWholeTextChannel, 2)
        self.assertLess(channel.calls, VOLUME_NETSTRINGS // 10)


if __name__ == '__main__':
    taptest.main()
