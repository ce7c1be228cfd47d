# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Output from Python: push, push_bytes, producers (Achat.SimpleProducer
and producers written in Python), close_when_done and discard_buffers."""

import taptest
from achattest import (Achat, ChannelTestCase, FinalizationWatch, Gio, GLib, GObject,
                       LogCapture, Recorder, iterate, iterate_until, nothing_to_receive,
                       receive, receive_until_eof, send)


class ListProducer(GObject.Object, Achat.Producer):
    """Produces its chunks one by one as GLib.Bytes, then None."""

    def __init__(self, chunks, end=None):
        super().__init__()
        self.chunks = list(chunks)
        self.end = end
        self.calls = 0

    def do_more(self):
        self.calls += 1
        if self.chunks:
            return GLib.Bytes.new(self.chunks.pop(0))
        return self.end


class OutputTest(ChannelTestCase):

    def setUp(self):
        super().setUp()
        gsocket, self.peer = self.socket_pair()
        self.channel = Achat.Channel.new(gsocket)
        self.recorder = Recorder(self.channel)

    def test_push_bytes_bytearray_and_empty(self):
        self.assertTrue(self.channel.push(b'abc'))
        self.assertTrue(self.channel.push(bytearray(b'def')))
        self.assertTrue(self.channel.push(b''))
        self.assertTrue(self.channel.push([103, 104]))
        self.assertEqual(self.channel.get_queued_bytes(), 8)
        self.assertEqual(receive(self.peer, 8), b'abcdefgh')
        iterate_until(lambda: self.channel.get_queued_bytes() == 0, 'the queue to empty')
        self.assertEqual(self.channel.get_bytes_sent(), 8)
        self.assertEqual(self.channel.props.bytes_sent, 8)
        self.assertTrue(nothing_to_receive(self.peer))

    def test_text_both_ways(self):
        self.assertTrue(self.channel.push_text('h\u00e9llo \u20ac\n'))
        self.assertEqual(receive(self.peer, 11), 'h\u00e9llo \u20ac\n'.encode())
        self.assertEqual(Achat.message_dup_text(GLib.Bytes.new('caf\u00e9'.encode())), 'caf\u00e9')
        self.assertEqual(Achat.message_dup_text(GLib.Bytes.new(b'')), '')
        with self.assertRaises(GLib.Error) as raised:
            Achat.message_dup_text(GLib.Bytes.new(b'caf\xc3'))
        self.assertTrue(raised.exception.matches(Gio.io_error_quark(), Gio.IOErrorEnum.INVALID_DATA))
        self.assertIn('invalid UTF-8 at byte 3 of 4', raised.exception.message)

    def test_queued_bytes_once_per_dispatch(self):
        """Pushes from a handler: queued-bytes notified once, after the
        write that ends the dispatch; output-full at once, in the handler."""
        values, full_in_handler = [], []
        self.channel.set_output_watermarks(1, 2)
        self.channel.set_terminator(b'\n')

        def reply(channel, line):
            for piece in (b'a', b'b', b'c\n'):
                channel.push(piece)
            full_in_handler.append(channel.is_output_full())

        self.channel.connect('notify::queued-bytes',
                             lambda channel, pspec: values.append(channel.get_queued_bytes()))
        self.channel.connect('terminator-found', reply)
        send(self.peer, b'go\n')
        self.assertEqual(receive(self.peer, 4), b'abc\n')
        iterate(20)
        self.assertEqual(full_in_handler, [True])
        self.assertEqual(values, [0])
        self.assertFalse(self.channel.is_output_full())

    def test_push_bytearray_is_copied(self):
        data = bytearray(b'original')
        self.channel.push(data)
        data[:] = b'modified'
        self.assertEqual(receive(self.peer, 8), b'original')

    def test_push_glib_bytes(self):
        big = bytes(range(256)) * 4096
        self.assertTrue(self.channel.push_bytes(GLib.Bytes.new(b'small:')))
        self.assertTrue(self.channel.push_bytes(GLib.Bytes.new(big)))
        self.assertTrue(self.channel.push_bytes(GLib.Bytes.new(b'')))
        self.assertTrue(self.channel.push(b':end'))
        self.assertEqual(receive(self.peer, 6 + len(big) + 4), b'small:' + big + b':end')
        self.assertEqual(self.channel.get_bytes_sent(), 6 + len(big) + 4)

    def test_pushes_keep_fifo_order(self):
        expected = bytearray()
        for i in range(200):
            piece = b'<%d>' % i
            expected += piece
            if i % 2:
                self.channel.push(piece)
            else:
                self.channel.push_bytes(GLib.Bytes.new(piece))
        self.assertEqual(receive(self.peer, len(expected)), bytes(expected))

    def test_simple_producer_chunks(self):
        producer = Achat.SimpleProducer.new(GLib.Bytes.new(b'hello world!'), 5)
        self.assertEqual(producer.get_buffer_size(), 5)
        self.assertEqual(producer.get_remaining(), 12)
        chunks = []
        while (chunk := producer.more()) is not None:
            chunks.append(chunk.get_data())
        self.assertEqual(chunks, [b'hello', b' worl', b'd!'])
        self.assertEqual(producer.get_remaining(), 0)
        self.assertIsNone(producer.more())

    def test_simple_producer_default_buffer_size(self):
        producer = Achat.SimpleProducer(data=GLib.Bytes.new(b'x'))
        self.assertEqual(producer.get_buffer_size(), Achat.SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE)
        self.assertEqual(producer.props.buffer_size, Achat.SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE)

    def test_push_simple_producer(self):
        body = bytes(range(256)) * 1000
        self.channel.push(b'head:')
        self.assertTrue(self.channel.push_with_producer(
            Achat.SimpleProducer.new(GLib.Bytes.new(body), 4096)))
        self.channel.push(b':tail')
        self.assertEqual(receive(self.peer, 5 + len(body) + 5), b'head:' + body + b':tail')

    def test_python_producer(self):
        producer = ListProducer([b'one,', b'two,', b'three'])
        self.channel.push(b'<')
        self.assertTrue(self.channel.push_with_producer(producer))
        self.channel.push(b'>')
        self.assertEqual(receive(self.peer, 15), b'<one,two,three>')
        # Asked until it returned None, and not after.
        self.assertEqual(producer.calls, 4)
        iterate()
        self.assertEqual(producer.calls, 4)
        self.assertTrue(nothing_to_receive(self.peer))

    def test_exhausted_python_producer_is_released(self):
        producer = ListProducer([b'data'])
        self.channel.push_with_producer(producer)
        watch = FinalizationWatch(producer)
        del producer
        self.assertEqual(receive(self.peer, 4), b'data')
        watch.wait('the exhausted producer to be finalized')

    def test_producer_returning_empty_bytes_is_exhausted(self):
        producer = ListProducer([b'Y'], end=GLib.Bytes.new(b''))
        self.channel.push_with_producer(producer)
        self.channel.push(b'Z')
        self.assertEqual(receive(self.peer, 2), b'YZ')
        self.assertEqual(producer.calls, 2)

    def test_python_producer_streams_many_chunks(self):
        chunks = [bytes([i % 256]) * 65536 for i in range(32)]
        producer = ListProducer(chunks)
        self.channel.push_with_producer(producer)
        self.channel.close_when_done()
        self.assertEqual(receive_until_eof(self.peer), b''.join(chunks))
        iterate_until(self.recorder.is_closed, 'the channel to close')
        self.assertIsNone(self.recorder.close_error())

    def test_close_when_done_flushes_then_closes(self):
        self.channel.push(b'a' * 100000)
        self.channel.close_when_done()
        self.assertTrue(self.channel.is_closing())
        self.assertFalse(self.channel.is_closed())
        self.assertEqual(receive_until_eof(self.peer), b'a' * 100000)
        iterate_until(self.recorder.is_closed, 'the channel to close')
        self.assertEqual(self.recorder.simple(), [('closed', None)])
        self.assertTrue(self.channel.is_closed())

    def test_push_after_close_when_done_is_refused(self):
        self.channel.push(b'a')
        self.channel.close_when_done()
        with LogCapture('Achat') as log:
            self.assertFalse(self.channel.push(b'b'))
            self.assertFalse(self.channel.push_bytes(GLib.Bytes.new(b'c')))
            self.assertFalse(self.channel.push_with_producer(ListProducer([b'd'])))
        self.assertEqual(len(log.messages), 3)
        self.assertIn('AchatChannel', log.messages[0])
        self.assertIn('close_when_done', log.messages[0])
        self.assertEqual(receive_until_eof(self.peer), b'a')

    def test_push_after_close_is_refused(self):
        self.channel.close()
        with LogCapture('Achat') as log:
            self.assertFalse(self.channel.push(b'late'))
        self.assertEqual(len(log.messages), 1)
        self.assertIn('closed', log.messages[0])
        self.assertEqual(receive_until_eof(self.peer), b'')

    def test_close_drops_queued_output(self):
        self.channel.push(b'never sent')
        self.channel.close()
        # closed is emitted before close() returns.
        self.assertEqual(self.recorder.simple(), [('closed', None)])
        self.assertEqual(receive_until_eof(self.peer), b'')

    def test_discard_buffers_drops_queued_output(self):
        self.channel.push(b'x' * (10 * 1024 * 1024))
        self.channel.push_with_producer(ListProducer([b'y']))
        self.assertEqual(self.channel.get_queued_bytes(), 10 * 1024 * 1024)
        self.channel.discard_buffers()
        self.assertEqual(self.channel.get_queued_bytes(), 0)
        self.channel.push(b'after')
        self.assertEqual(receive(self.peer, 5), b'after')
        iterate()
        self.assertTrue(nothing_to_receive(self.peer))
        self.assertFalse(self.channel.is_closed())

    def test_discard_buffers_keeps_pending_close(self):
        self.channel.push(b'x' * 1000)
        self.channel.close_when_done()
        self.channel.discard_buffers()
        iterate_until(self.recorder.is_closed, 'the channel to close')
        self.assertIsNone(self.recorder.close_error())
        self.assertEqual(receive_until_eof(self.peer), b'')

    def test_reply_pushed_from_handler(self):
        self.channel.set_terminator(b'\n')
        self.channel.connect('terminator-found',
                             lambda channel, line: channel.push(line.get_data().upper() + b'\n'))
        send(self.peer, b'hello\nworld\n')
        self.assertEqual(receive(self.peer, 12), b'HELLO\nWORLD\n')


if __name__ == '__main__':
    taptest.main()
