# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""How a channel reports the end of its connection to Python (a GLib.Error
or None in closed), and exceptions raised by Python handlers."""

import sys

import taptest
from achattest import (Achat, ChannelTestCase, Gio, GLib, GObject, Recorder, iterate,
                       iterate_until, receive, reset, send)


class ClosedErrorTest(ChannelTestCase):

    def test_orderly_close_gives_none(self):
        channel, recorder, peer = self.line_channel()
        self.feed(channel, peer, [b'last\n'])
        peer.close()
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.simple(), [('c', b'last'), ('T', b'last'), ('closed', None)])
        self.assertTrue(channel.is_closed())

    def test_peer_reset_gives_gio_error(self):
        gsocket, peer = self.tcp_pair()
        channel = Achat.Channel.new(gsocket)
        channel.set_terminator(b'\n')
        recorder = Recorder(channel)
        collected_when_closed = []
        channel.connect('closed', lambda channel, error:
                        collected_when_closed.append(channel.get_collected().get_data()))
        self.feed(channel, peer, [b'complete\npart'])
        reset(peer)
        iterate_until(recorder.is_closed, 'the channel to close')
        error = recorder.close_error()
        self.assertIsInstance(error, GLib.Error)
        self.assertEqual(error.domain, 'g-io-error-quark')
        self.assertTrue(error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.CONNECTION_CLOSED),
                        f'{error.message} (code {error.code})')
        # What arrived before the reset was delivered.
        self.assertEqual(recorder.messages(), [b'complete'])
        self.assertEqual(collected_when_closed, [b'part'])
        self.assertEqual(recorder.closed_count(), 1)
        self.assertEqual(recorder.events[-1][0], 'closed')

    def test_do_closed_receives_error(self):
        class ErrorChannel(Achat.Channel):
            def __init__(self, **properties):
                super().__init__(**properties)
                self.errors = []

            def do_closed(self, error):
                self.errors.append(error)

        gsocket, peer = self.tcp_pair()
        channel = ErrorChannel(socket=gsocket)
        reset(peer)
        iterate_until(channel.is_closed, 'the channel to close')
        self.assertEqual(len(channel.errors), 1)
        self.assertIsInstance(channel.errors[0], GLib.Error)
        self.assertEqual(channel.errors[0].domain, 'g-io-error-quark')

    def test_close_gives_none(self):
        channel, recorder, _ = self.line_channel()
        channel.close()
        self.assertEqual(recorder.simple(), [('closed', None)])


class HandlerExceptionTest(ChannelTestCase):
    """PyGObject reports an exception raised in a handler through
    sys.excepthook; the channel goes on."""

    def setUp(self):
        super().setUp()
        self.reported = []
        self.addCleanup(setattr, sys, 'excepthook', sys.excepthook)
        sys.excepthook = lambda kind, value, traceback: self.reported.append(kind)

    def test_exception_in_signal_handler(self):
        channel, recorder, peer = self.line_channel()

        def on_message(channel, message):
            if message.get_data() == b'boom':
                raise ValueError('handler failure')

        channel.connect('terminator-found', on_message)
        self.feed(channel, peer, [b'boom\nnext in same read\n'])
        self.feed(channel, peer, [b'next read\n'])
        self.assertEqual(self.reported, [ValueError])
        self.assertEqual(recorder.messages(), [b'boom', b'next in same read', b'next read'])
        self.assertFalse(channel.is_closed())
        channel.push(b'still writing')
        self.assertEqual(receive(peer, 13), b'still writing')

    def test_exception_in_data_collected_handler(self):
        channel, recorder, peer = self.line_channel()

        def on_data(channel, data):
            if data.get_data() == b'bad':
                raise KeyError(data.get_data())

        channel.connect('data-collected', on_data)
        self.feed(channel, peer, [b'bad', b'\ngood\n'])
        self.assertEqual(self.reported, [KeyError])
        # The default handler still collected the data.
        self.assertEqual(recorder.messages(), [b'bad', b'good'])

    def test_exception_in_class_closure(self):
        class FailingChannel(Achat.Channel):
            def __init__(self, **properties):
                super().__init__(**properties)
                self.set_terminator(b'\n')
                self.lines = []

            def do_terminator_found(self, message):
                self.lines.append(message.get_data())
                if len(self.lines) == 1:
                    raise RuntimeError('class closure failure')

        gsocket, peer = self.socket_pair()
        channel = FailingChannel(socket=gsocket)
        self.feed(channel, peer, [b'first\nsecond\n', b'third\n'])
        self.assertEqual(self.reported, [RuntimeError])
        self.assertEqual(channel.lines, [b'first', b'second', b'third'])
        self.assertFalse(channel.is_closed())

    def test_exception_in_producer(self):
        class FailingProducer(GObject.Object, Achat.Producer):
            def do_more(self):
                raise RuntimeError('producer failure')

        gsocket, peer = self.socket_pair()
        channel = Achat.Channel.new(gsocket)
        channel.push(b'before,')
        channel.push_with_producer(FailingProducer())
        channel.push(b'after')
        # A failing producer counts as exhausted.
        self.assertEqual(receive(peer, 12), b'before,after')
        self.assertEqual(self.reported, [RuntimeError])
        self.assertFalse(channel.is_closed())

    def test_exception_in_closed_handler(self):
        channel, recorder, peer = self.line_channel()

        def on_closed(channel, error):
            raise RuntimeError('closed handler failure')

        channel.connect('closed', on_closed)
        send(peer, b'x\n')
        peer.close()
        iterate_until(recorder.is_closed, 'the channel to close')
        iterate()
        self.assertEqual(self.reported, [RuntimeError])
        self.assertEqual(recorder.simple(), [('c', b'x'), ('T', b'x'), ('closed', None)])


if __name__ == '__main__':
    taptest.main()
