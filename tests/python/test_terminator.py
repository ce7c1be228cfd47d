# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Terminators from Python: every kind, the getters, the errors raised for
wrong argument types, the framing cases of behaviour.md over a real socket,
and achat_find_prefix_at_end()."""

import unittest

import taptest
from achattest import Achat, ChannelTestCase, iterate, iterate_until, receive, send

Kind = Achat.TerminatorKind


class TerminatorGettersTest(ChannelTestCase):

    def setUp(self):
        super().setUp()
        gsocket, self.peer = self.socket_pair()
        self.channel = Achat.Channel.new(gsocket)

    def assert_none_terminator(self):
        self.assertEqual(self.channel.get_terminator_kind(), Kind.NONE)
        self.assertIn(self.channel.get_terminator(), (b'', None))
        self.assertEqual(self.channel.get_terminator_count(), 0)

    def test_new_channel_has_no_terminator(self):
        self.assert_none_terminator()

    def test_bytes_terminator(self):
        self.channel.set_terminator(b'\r\n')
        self.assertEqual(self.channel.get_terminator_kind(), Kind.BYTES)
        terminator = self.channel.get_terminator()
        self.assertIsInstance(terminator, bytes)
        self.assertEqual(terminator, b'\r\n')
        self.assertEqual(self.channel.get_terminator_count(), 0)

    def test_bytearray_terminator(self):
        self.channel.set_terminator(bytearray(b'\r\n.\r\n'))
        self.assertEqual(self.channel.get_terminator_kind(), Kind.BYTES)
        self.assertEqual(self.channel.get_terminator(), b'\r\n.\r\n')

    def test_terminator_with_nul_bytes(self):
        self.channel.set_terminator(b'\x00\xff\x00')
        self.assertEqual(self.channel.get_terminator(), b'\x00\xff\x00')

    def test_empty_bytes_terminator_is_none(self):
        self.channel.set_terminator(b'\n')
        self.channel.set_terminator(b'')
        self.assert_none_terminator()

    def test_set_terminator_none(self):
        self.channel.set_terminator(b'\n')
        self.channel.set_terminator_none()
        self.assert_none_terminator()

    def test_count_terminator(self):
        self.channel.set_terminator_count(5)
        self.assertEqual(self.channel.get_terminator_kind(), Kind.COUNT)
        self.assertEqual(self.channel.get_terminator_count(), 5)
        self.assertIn(self.channel.get_terminator(), (b'', None))

    def test_large_count_terminator(self):
        self.channel.set_terminator_count(2**64 - 1)
        self.assertEqual(self.channel.get_terminator_count(), 2**64 - 1)

    def test_count_replaces_bytes_and_back(self):
        self.channel.set_terminator(b'\n')
        self.channel.set_terminator_count(3)
        self.assertEqual(self.channel.get_terminator_kind(), Kind.COUNT)
        self.assertIn(self.channel.get_terminator(), (b'', None))
        self.channel.set_terminator(b'END')
        self.assertEqual(self.channel.get_terminator_kind(), Kind.BYTES)
        self.assertEqual(self.channel.get_terminator_count(), 0)

    def test_negative_count_raises_overflow_error(self):
        self.channel.set_terminator(b'\n')
        with self.assertRaises(OverflowError):
            self.channel.set_terminator_count(-1)
        with self.assertRaises(OverflowError):
            self.channel.set_terminator_count(2**64)
        self.assertEqual(self.channel.get_terminator(), b'\n', 'the terminator is unchanged')

    def test_str_terminator_raises_type_error(self):
        self.channel.set_terminator(b'\n')
        with self.assertRaises(TypeError):
            self.channel.set_terminator('\r\n')
        with self.assertRaises(TypeError):
            self.channel.set_terminator(10)
        self.assertEqual(self.channel.get_terminator(), b'\n', 'the terminator is unchanged')

    def test_push_of_str_or_int_raises_type_error(self):
        with self.assertRaises(TypeError):
            self.channel.push('text')
        with self.assertRaises(TypeError):
            self.channel.push(10)
        with self.assertRaises(TypeError):
            self.channel.push_bytes(b'not a GLib.Bytes')
        self.assertEqual(self.channel.get_queued_bytes(), 0)
        # The channel is still usable.
        self.assertTrue(self.channel.push(b'fine'))
        self.assertEqual(receive(self.peer, 4), b'fine')
        self.assertFalse(self.channel.is_closed())


class FramingTest(ChannelTestCase):
    """The input cases of behaviour.md, read by a channel over a socket:
    each element of `reads` arrives in a read of its own."""

    def frame(self, reads, setup, eof=False):
        channel, recorder, peer = self.line_channel()
        setup(channel)
        self.feed(channel, peer, reads)
        if eof:
            peer.close()
            iterate_until(recorder.is_closed, 'the channel to close')
        return channel, recorder

    def test_I1_terminator_split_across_reads(self):
        _, recorder = self.frame([b'abc\r', b'\ndef\r\n'], lambda c: c.set_terminator(b'\r\n'))
        self.assertEqual(recorder.simple(),
                         [('c', b'abc'), ('T', b'abc'), ('c', b'def'), ('T', b'def')])

    def test_I2_terminator_alone(self):
        _, recorder = self.frame([b'\r', b'\n'], lambda c: c.set_terminator(b'\r\n'))
        self.assertEqual(recorder.simple(), [('T', b'')])

    def test_I3_three_byte_terminator(self):
        _, recorder = self.frame([b'ab', b'cq', b'q', b'qde', b'fqqq'],
                                 lambda c: c.set_terminator(b'qqq'))
        self.assertEqual(recorder.simple(),
                         [('c', b'ab'), ('c', b'c'), ('T', b'abc'),
                          ('c', b'de'), ('c', b'f'), ('T', b'def')])

    def test_I4_self_overlapping_terminator(self):
        _, recorder = self.frame([b'xaa', b'ab'], lambda c: c.set_terminator(b'aab'))
        self.assertEqual(recorder.simple(), [('c', b'x'), ('c', b'a'), ('T', b'xa')])

    def test_I5_frames_of_one_read_in_one_dispatch(self):
        channel, recorder, peer = self.line_channel()
        send(peer, b'a\nb\n\nc')
        iterate_until(lambda: recorder.events, 'the first emission')
        # Every frame of the read was delivered by the iteration that
        # delivered the first one.
        self.assertEqual(recorder.simple(),
                         [('c', b'a'), ('T', b'a'), ('c', b'b'), ('T', b'b'), ('T', b''),
                          ('c', b'c')])

    def test_I6_long_terminator_split_three_ways(self):
        _, recorder = self.frame([b'line1\r\nline2\r\n.', b'\r', b'\nnext'],
                                 lambda c: c.set_terminator(b'\r\n.\r\n'))
        self.assertEqual(recorder.simple(),
                         [('c', b'line1\r\nline2'), ('T', b'line1\r\nline2'), ('c', b'next')])

    def test_I7_empty_terminator_collects_only(self):
        channel, recorder = self.frame([b'abc', b'def'], lambda c: c.set_terminator(b''))
        self.assertEqual(recorder.simple(), [('c', b'abc'), ('c', b'def')])
        self.assertEqual(channel.get_collected().get_data(), b'abcdef')

    def test_I8_no_terminator_collects_only(self):
        channel, recorder = self.frame([b'abc', b'def'], lambda c: c.set_terminator_none())
        self.assertEqual(recorder.simple(), [('c', b'abc'), ('c', b'def')])
        self.assertEqual(channel.get_collected().get_data(), b'abcdef')

    def test_I9_count_fires_once_then_collects(self):
        channel, recorder = self.frame([b'ab', b'cdefg', b'hi'],
                                       lambda c: c.set_terminator_count(5))
        self.assertEqual(recorder.simple(),
                         [('c', b'ab'), ('c', b'cde'), ('T', b'abcde'), ('c', b'fg'),
                          ('c', b'hi')])
        self.assertEqual(channel.get_terminator_count(), 0)
        self.assertEqual(channel.get_collected().get_data(), b'fghi')

    def test_I10_count_zero_is_none(self):
        _, recorder = self.frame([b'abc'], lambda c: c.set_terminator_count(0))
        self.assertEqual(recorder.simple(), [('c', b'abc')])

    def test_I11_count_rearmed_in_handler(self):
        def setup(channel):
            channel.set_terminator_count(3)
            channel.connect('terminator-found',
                            lambda channel, message: channel.set_terminator_count(3))

        channel, recorder = self.frame([b'abcdefgh'], setup)
        self.assertEqual(recorder.simple(),
                         [('c', b'abc'), ('T', b'abc'), ('c', b'def'), ('T', b'def'),
                          ('c', b'gh')])
        self.assertEqual(channel.get_terminator_kind(), Kind.COUNT)
        self.assertEqual(channel.get_terminator_count(), 1)

    def test_I12_terminator_changes_apply_to_rest_of_read(self):
        def on_message(channel, message):
            if message.get_data() == b'HDR':
                channel.set_terminator_count(4)
            else:
                channel.set_terminator(b'\r\n')

        def setup(channel):
            channel.set_terminator(b'\r\n')
            channel.connect('terminator-found', on_message)

        _, recorder = self.frame([b'HDR\r\nBODYrest\r\n'], setup)
        self.assertEqual(recorder.simple(),
                         [('c', b'HDR'), ('T', b'HDR'), ('c', b'BODY'), ('T', b'BODY'),
                          ('c', b'rest'), ('T', b'rest')])

    def test_I13_close_in_handler_stops_delivery(self):
        channel, recorder = self.frame(
            [b'a\nb\nc\n'],
            lambda c: c.connect('terminator-found', lambda channel, message: channel.close()))
        self.assertEqual(recorder.simple(), [('c', b'a'), ('T', b'a'), ('closed', None)])
        iterate()
        self.assertEqual(recorder.closed_count(), 1)
        self.assertTrue(channel.is_closed())

    def test_I14_discard_in_handler_drops_rest_of_read(self):
        channel, recorder, peer = self.line_channel()
        handler = channel.connect('terminator-found',
                                  lambda channel, message: channel.discard_buffers())
        self.feed(channel, peer, [b'a\nb\nc\n'])
        self.assertEqual(recorder.simple(), [('c', b'a'), ('T', b'a')])
        # The channel goes on with the next read.
        channel.disconnect(handler)
        self.feed(channel, peer, [b'd\n'])
        self.assertEqual(recorder.messages(), [b'a', b'd'])
        self.assertFalse(channel.is_closed())

    def test_I15_eof_after_partial_message(self):
        collected_when_closed = []

        def setup(channel):
            channel.connect('closed', lambda channel, error:
                            collected_when_closed.append(channel.get_collected().get_data()))

        _, recorder = self.frame([b'abc'], setup, eof=True)
        self.assertEqual(recorder.simple(), [('c', b'abc'), ('closed', None)])
        self.assertEqual(collected_when_closed, [b'abc'])

    def test_I16_eof_with_partial_terminator_held(self):
        _, recorder = self.frame([b'abc\r'], lambda c: c.set_terminator(b'\r\n'), eof=True)
        self.assertEqual(recorder.simple(), [('c', b'abc'), ('c', b'\r'), ('closed', None)])

    def test_message_split_over_many_reads(self):
        reads = [b'%d-' % i for i in range(50)] + [b'\n']
        _, recorder = self.frame(reads, lambda c: None)
        self.assertEqual(recorder.messages(), [b''.join(reads[:-1])])


class FindPrefixAtEndTest(unittest.TestCase):
    CASES = [
        (b'qwerty\r', b'\r\n', 1),
        (b'qwertydkjf', b'\r\n', 0),
        (b'xqq', b'qqq', 2),
        (b'qq', b'qqq', 2),
        (b'q', b'qqq', 1),
        (b'a', b'a', 0),
        (b'abcab', b'abcabd', 5),
        (b'xab', b'abcabd', 2),
        (b'\r\n.\r', b'\r\n.\r\n', 4),
        (b'', b'\r\n', 0),
        (b'abc', b'', 0),
        (b'', b'', 0),
    ]

    def test_reference_cases(self):
        for haystack, needle, expected in self.CASES:
            with self.subTest(haystack=haystack, needle=needle):
                self.assertEqual(Achat.find_prefix_at_end(haystack, needle), expected)

    def test_bytearray_arguments(self):
        self.assertEqual(Achat.find_prefix_at_end(bytearray(b'qwerty\r'), bytearray(b'\r\n')), 1)

    def test_str_raises_type_error(self):
        with self.assertRaises(TypeError):
            Achat.find_prefix_at_end('qwerty\r', b'\r\n')


if __name__ == '__main__':
    taptest.main()
