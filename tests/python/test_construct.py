# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Channels made from a Gio.Socket, a Gio.SocketConnection and other
streams, with the constructors and with constructor keyword arguments."""

import taptest
from achattest import (Achat, ChannelTestCase, Gio, GLib, LogCapture, Recorder,
                       iterate, iterate_until, receive, send)


class ConstructTest(ChannelTestCase):

    def assert_exchanges_lines(self, channel, peer):
        """A line from the peer arrives as a message; a push reaches the
        peer."""
        recorder = Recorder(channel)
        channel.set_terminator(b'\n')
        send(peer, b'ping\n')
        iterate_until(lambda: recorder.messages(), 'a message')
        self.assertEqual(recorder.messages(), [b'ping'])
        self.assertTrue(channel.push(b'pong\n'))
        self.assertEqual(receive(peer, 5), b'pong\n')
        self.assertFalse(channel.is_closed())

    def test_new_from_socket(self):
        gsocket, peer = self.socket_pair()
        channel = Achat.Channel.new(gsocket)
        self.assertIsInstance(channel, Achat.Channel)
        self.assertIs(channel.get_socket(), gsocket)
        self.assertIsNone(channel.get_stream())
        self.assert_exchanges_lines(channel, peer)

    def test_socket_keyword_argument(self):
        gsocket, peer = self.socket_pair()
        channel = Achat.Channel(socket=gsocket)
        self.assertIs(channel.props.socket, gsocket)
        self.assertIsNone(channel.props.stream)
        self.assert_exchanges_lines(channel, peer)

    def test_new_for_socket_connection(self):
        gsocket, peer = self.socket_pair()
        connection = gsocket.connection_factory_create_connection()
        self.assertIsInstance(connection, Gio.SocketConnection)
        channel = Achat.Channel.new_for_stream(connection)
        self.assertIs(channel.get_stream(), connection)
        self.assertIs(channel.get_socket(), gsocket)
        self.assert_exchanges_lines(channel, peer)

    def test_stream_keyword_argument(self):
        gsocket, peer = self.socket_pair()
        connection = gsocket.connection_factory_create_connection()
        channel = Achat.Channel(stream=connection)
        self.assertIs(channel.props.stream, connection)
        self.assertIs(channel.props.socket, gsocket)
        self.assert_exchanges_lines(channel, peer)

    def test_tcp_socket_remote_address(self):
        gsocket, peer = self.tcp_pair()
        channel = Achat.Channel.new(gsocket)
        address = channel.get_remote_address()
        self.assertIsInstance(address, Gio.InetSocketAddress)
        self.assertEqual(address.get_port(), peer.getsockname()[1])
        self.assert_exchanges_lines(channel, peer)

    def test_new_channel_runs_on_default_context(self):
        gsocket, _ = self.socket_pair()
        channel = Achat.Channel.new(gsocket)
        self.assertEqual(channel.get_context(), GLib.MainContext.default())
        self.assertEqual(channel.props.context, GLib.MainContext.default())

    def test_pollable_memory_streams(self):
        # In-memory streams are pollable: a channel runs over them, reads
        # to the end, writes its replies and closes the stream.
        input_stream = Gio.MemoryInputStream.new_from_bytes(GLib.Bytes.new(b'one\ntwo\n'))
        output_stream = Gio.MemoryOutputStream.new_resizable()
        channel = Achat.Channel(stream=Gio.SimpleIOStream.new(input_stream, output_stream))
        self.assertIsNone(channel.get_socket())
        channel.set_terminator(b'\n')
        recorder = Recorder(channel)
        channel.connect('terminator-found',
                        lambda channel, message: channel.push(b'<%s>' % message.get_data()))
        iterate_until(lambda: recorder.is_closed() and output_stream.is_closed(),
                      'the end of the memory streams')
        self.assertEqual(recorder.messages(), [b'one', b'two'])
        self.assertIsNone(recorder.close_error())
        self.assertEqual(output_stream.steal_as_bytes().get_data(), b'<one><two>')


class NotPollableTest(ChannelTestCase):
    """A stream whose input is not pollable (a Gio.BufferedInputStream;
    Gio.MemoryInputStream is pollable)."""

    @staticmethod
    def not_pollable_stream():
        input_stream = Gio.BufferedInputStream.new(
            Gio.MemoryInputStream.new_from_bytes(GLib.Bytes.new(b'data\n')))
        return Gio.SimpleIOStream.new(input_stream, Gio.MemoryOutputStream.new_resizable())

    def test_closes_with_not_pollable_error(self):
        with LogCapture('GLib-GObject', 'GLib', 'Achat'):
            channel = Achat.Channel(stream=self.not_pollable_stream())
        recorder = Recorder(channel)
        self.assertFalse(channel.is_closed(),
                         'closes on the first iteration, not in the constructor')
        iterate_until(recorder.is_closed, 'the channel to close')
        error = recorder.close_error()
        self.assertIsInstance(error, GLib.Error)
        self.assertEqual(error.domain, 'achat-error-quark')
        self.assertTrue(error.matches(Achat.error_quark(), Achat.Error.NOT_POLLABLE))
        self.assertIn('not pollable', error.message)
        self.assertEqual(recorder.messages(), [])
        iterate()
        self.assertEqual(recorder.closed_count(), 1)

    def test_construction_logs_no_critical(self):
        with LogCapture('GLib-GObject', 'GLib', 'GLib-GIO', 'Achat') as log:
            channel = Achat.Channel.new_for_stream(self.not_pollable_stream())
            recorder = Recorder(channel)
            iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(log.messages, [])


if __name__ == '__main__':
    taptest.main()
