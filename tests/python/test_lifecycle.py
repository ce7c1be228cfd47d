# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Life cycle seen from Python: channels keep themselves alive while open
and are finalized once closed and dropped; closed comes exactly once and
last; GLib.Bytes kept after an emission stay valid."""

import gc

import taptest
from achattest import (Achat, ChannelTestCase, FinalizationWatch, Recorder, iterate,
                       iterate_until, receive, reset, send)


class StatefulChannel(Achat.Channel):
    """A Python subclass with state of its own (an instance __dict__)."""

    def __init__(self, **properties):
        super().__init__(**properties)
        self.set_terminator(b'\n')
        self.lines = []

    def do_terminator_found(self, line):
        self.lines.append(line.get_data())


class FinalizationTest(ChannelTestCase):

    def test_open_channel_kept_alive_by_main_loop(self):
        channel, recorder, peer = self.line_channel()
        watch = FinalizationWatch(channel)
        del channel
        gc.collect()
        iterate()
        self.assertFalse(watch.finalized, 'an open channel lives on without references')
        send(peer, b'hello\n')
        iterate_until(recorder.messages, 'a message')
        self.assertEqual(recorder.messages(), [b'hello'])
        peer.close()
        watch.wait('the closed channel to be finalized')
        self.assertEqual(recorder.closed_count(), 1)

    def test_channel_closed_by_application_is_finalized(self):
        channel, recorder, _ = self.line_channel()
        channel.push(b'dropped')
        channel.close()
        watch = FinalizationWatch(channel)
        del channel
        watch.wait('the closed channel to be finalized')
        self.assertEqual(recorder.closed_count(), 1)

    def test_channel_closed_in_handler_is_finalized(self):
        channel, recorder, peer = self.line_channel()
        channel.connect('terminator-found', lambda channel, message: channel.close())
        watch = FinalizationWatch(channel)
        del channel
        send(peer, b'bye\nunread\n')
        watch.wait('the closed channel to be finalized')
        self.assertEqual(recorder.simple(), [('c', b'bye'), ('T', b'bye'), ('closed', None)])

    def test_python_subclass_is_finalized_with_its_state(self):
        gsocket, peer = self.socket_pair()
        channel = StatefulChannel(socket=gsocket)
        watch = FinalizationWatch(channel)
        del channel
        gc.collect()
        send(peer, b'one\ntwo\n')
        iterate_until(lambda: len(watch.wrapper().lines) == 2, 'two lines')
        self.assertEqual(watch.wrapper().lines, [b'one', b'two'], 'the Python state survived')
        peer.close()
        watch.wait('the closed subclass instance to be finalized')

    def test_channel_over_socket_connection_is_finalized(self):
        gsocket, peer = self.socket_pair()
        connection = gsocket.connection_factory_create_connection()
        channel = Achat.Channel.new_for_stream(connection)
        watches = [FinalizationWatch(channel), FinalizationWatch(connection),
                   FinalizationWatch(gsocket)]
        del channel, connection, gsocket
        peer.close()
        for watch in watches:
            watch.wait('the channel, its connection and its socket to be finalized')

    def test_close_when_done_channel_is_finalized(self):
        channel, recorder, peer = self.line_channel()
        channel.push(b'x' * 200000)
        channel.close_when_done()
        watch = FinalizationWatch(channel)
        del channel
        self.assertEqual(receive(peer, 200000), b'x' * 200000)
        watch.wait('the closed channel to be finalized')
        self.assertEqual(recorder.simple(), [('closed', None)])


class ClosedOnceTest(ChannelTestCase):

    def test_closed_exactly_once(self):
        channel, recorder, peer = self.line_channel()
        channel.close()
        channel.close()
        channel.close_when_done()
        channel.discard_buffers()
        peer.close()
        iterate()
        self.assertEqual(recorder.simple(), [('closed', None)])
        self.assertTrue(channel.is_closed())
        self.assertTrue(channel.is_closing())

    def test_open_notified_before_closed(self):
        channel, recorder, peer = self.line_channel()
        order = []
        self.assertTrue(channel.props.is_open)
        channel.connect('notify::is-open',
                        lambda channel, pspec: order.append(('notify', channel.props.is_open)))
        channel.connect('closed', lambda channel, error: order.append(('closed', None)))
        peer.close()
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(order, [('notify', False), ('closed', None)])

    def test_nothing_after_closed(self):
        channel, recorder, peer = self.line_channel()

        def on_message(channel, message):
            if message.get_data() == b'stop':
                channel.close()

        channel.connect('terminator-found', on_message)
        send(peer, b'go\nstop\nafter\nmore')
        iterate_until(recorder.is_closed, 'the channel to close')
        peer.close()
        iterate(20)
        self.assertEqual(recorder.simple(),
                         [('c', b'go'), ('T', b'go'), ('c', b'stop'), ('T', b'stop'),
                          ('closed', None)])

    def test_closed_last_after_eof_and_error(self):
        for make_pair, end in ((self.socket_pair, 'eof'), (self.tcp_pair, 'reset')):
            with self.subTest(end=end):
                gsocket, peer = make_pair()
                channel = Achat.Channel.new(gsocket)
                channel.set_terminator(b'\r\n')
                recorder = Recorder(channel)
                self.feed(channel, peer, [b'line\r\npartial\r'])
                if end == 'reset':
                    reset(peer)
                else:
                    peer.close()
                iterate_until(recorder.is_closed, 'the channel to close')
                iterate(10)
                kinds = [kind for kind, _ in recorder.events]
                self.assertEqual(kinds.count('closed'), 1)
                self.assertEqual(kinds[-1], 'closed')
                self.assertEqual(recorder.messages(), [b'line'])


class KeptBytesTest(ChannelTestCase):
    """Handlers that keep the GLib.Bytes of an emission read the right
    bytes after it, including long messages (slices of the read buffer)
    after that buffer was reused for later reads."""

    SIZES = [1, 100, 4095, 4096, 5000, 20000, 60000, 3, 4097, 30000]

    @staticmethod
    def payload(index, size):
        pattern = b'%d:' % index + bytes(range(97 + index % 20, 97 + index % 20 + 6))
        return (pattern * (size // len(pattern) + 1))[:size]

    def check_kept_bytes(self, data_collected):
        channel, recorder, peer = self.line_channel(data_collected=data_collected)
        expected = [self.payload(i, size) for i, size in enumerate(self.SIZES)]
        # One message per read, then several per read, so that messages are
        # cut from read buffers in every way.
        self.feed(channel, peer, [message + b'\n' for message in expected])
        self.feed(channel, peer, [b''.join(message + b'\n' for message in expected[:6])])
        # Reads that would overwrite any read buffer still referenced.
        self.feed(channel, peer, [b'\xee' * 65000 for _ in range(8)])
        gc.collect()
        self.assertEqual(recorder.messages(), expected + expected[:6])
        if data_collected:
            collected = b''.join(value.get_data() for kind, value in recorder.events
                                 if kind == 'c')
            self.assertEqual(collected, b''.join(expected + expected[:6]) + b'\xee' * 65000 * 8)
        return recorder

    def test_kept_messages_without_data_collected_handler(self):
        recorder = self.check_kept_bytes(data_collected=False)
        self.assertEqual([kind for kind, _ in recorder.events], ['T'] * 16)

    def test_kept_messages_and_data(self):
        self.check_kept_bytes(data_collected=True)

    def test_kept_bytes_outlive_channel(self):
        channel, recorder, peer = self.line_channel(data_collected=False)
        big = self.payload(7, 50000)
        self.feed(channel, peer, [big + b'\nsmall\n'])
        watch = FinalizationWatch(channel)
        del channel
        peer.close()
        watch.wait('the closed channel to be finalized')
        self.assertEqual(recorder.messages(), [big, b'small'])


if __name__ == '__main__':
    taptest.main()
