# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Framing from Python: several terminators at once and
get_matched_terminator(), length-prefixed frames (headers built with
struct, their limits and errors, push_frame() read back by the peer, the
asynchat idiom they replace), and push_line()/push_line_full() refusing
lines that would smuggle in a second one."""

import itertools
import socket
import struct

import taptest
from achattest import (Achat, ChannelTestCase, Gio, GLib, Recorder, iterate, iterate_until,
                       nothing_to_receive, receive, receive_until_eof, send)

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


if __name__ == '__main__':
    taptest.main()
