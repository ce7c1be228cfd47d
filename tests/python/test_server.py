# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Achat.Server over loopback TCP, on a port the kernel picks, with
Achat.Channel and with a Python subclass as channel-type."""

import gc
import os
import resource
import socket

import taptest
from achattest import (Achat, ChannelTestCase, FinalizationWatch, Gio, GLib, Recorder,
                       iterate_until, receive, receive_until_eof, send)


class EchoLineChannel(Achat.Channel):
    """Sets its terminator in __init__ (which runs when the server makes
    it) and echoes each line in upper case."""

    def __init__(self, **properties):
        super().__init__(**properties)
        self.set_terminator(b'\n')
        self.init_ran = True
        self.lines = []
        self.instance_ids_seen = []

    def do_terminator_found(self, line):
        self.lines.append(line.get_data())
        self.instance_ids_seen.append(id(self))
        self.push(line.get_data().upper() + b'\n')


class ServerTest(ChannelTestCase):

    def start(self, server):
        """Listens on 127.0.0.1 with a port the kernel picks, for the rest
        of the test, and records the accepted channels. Returns the port."""
        ok, address = server.add_address(
            Gio.InetSocketAddress.new_from_string('127.0.0.1', 0),
            Gio.SocketType.STREAM, Gio.SocketProtocol.TCP, None)
        self.assertTrue(ok)
        self.assertIsInstance(address, Gio.InetSocketAddress)
        self.assertNotEqual(address.get_port(), 0)
        self.accepted = []
        server.connect('channel-accepted', lambda server, channel: self.accepted.append(channel))
        server.start()
        self.addCleanup(server.close)
        self.addCleanup(server.stop)
        return address.get_port()

    def connect_client(self, port):
        client = socket.create_connection(('127.0.0.1', port))
        client.setblocking(False)
        self.addCleanup(client.close)
        return client

    def accept_one(self, port):
        """Connects a client and returns it with the channel the server
        made for it."""
        count = len(self.accepted)
        client = self.connect_client(port)
        iterate_until(lambda: len(self.accepted) > count, 'the server to accept')
        return client, self.accepted[count]

    def test_default_channel_type(self):
        server = Achat.Server()
        self.assertEqual(server.get_channel_type(), Achat.Channel.__gtype__)
        client, channel = self.accept_one(self.start(server))
        self.assertIs(type(channel), Achat.Channel)
        self.assertIsInstance(channel.get_stream(), Gio.TcpConnection)
        self.assertEqual(channel.get_remote_address().get_port(), client.getsockname()[1])
        channel.set_terminator(b'\r\n')
        recorder = Recorder(channel)
        send(client, b'hello\r\n')
        iterate_until(recorder.messages, 'a message')
        self.assertEqual(recorder.messages(), [b'hello'])
        channel.push(b'bye')
        channel.close_when_done()
        self.assertEqual(receive_until_eof(client), b'bye')
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertIsNone(recorder.close_error())

    def check_python_channel_type(self, server):
        self.assertEqual(server.get_channel_type(), EchoLineChannel.__gtype__)
        self.assertEqual(server.props.channel_type, EchoLineChannel.__gtype__)
        client, channel = self.accept_one(self.start(server))
        self.assertIsInstance(channel, EchoLineChannel)
        self.assertTrue(channel.init_ran)
        self.assertEqual(channel.get_terminator(), b'\n')
        send(client, b'one\ntwo\n')
        self.assertEqual(receive(client, 8), b'ONE\nTWO\n')
        self.assertEqual(channel.lines, [b'one', b'two'])
        # The object the server handed out is the one whose class
        # closures run.
        self.assertEqual(channel.instance_ids_seen, [id(channel)] * 2)

    def test_new_with_python_subclass(self):
        self.check_python_channel_type(Achat.Server.new(EchoLineChannel))

    def test_channel_type_keyword_argument(self):
        self.check_python_channel_type(Achat.Server(channel_type=EchoLineChannel))

    def test_set_channel_type(self):
        server = Achat.Server()
        server.set_channel_type(EchoLineChannel)
        self.check_python_channel_type(server)

    def test_one_instance_per_connection(self):
        port = self.start(Achat.Server.new(EchoLineChannel))
        clients = []
        for i in range(3):
            client, _ = self.accept_one(port)
            clients.append(client)
        self.assertEqual(len({id(channel) for channel in self.accepted}), 3)
        for i, client in enumerate(clients):
            send(client, b'client %d\n' % i)
        for i, client in enumerate(clients):
            self.assertEqual(receive(client, 9), b'CLIENT %d\n' % i)
        for i, channel in enumerate(self.accepted):
            self.assertEqual(channel.lines, [b'client %d' % i])

    def test_server_channel_released_after_close(self):
        port = self.start(Achat.Server.new(EchoLineChannel))
        client, channel = self.accept_one(port)
        send(client, b'ping\n')
        self.assertEqual(receive(client, 5), b'PING\n')
        watch = FinalizationWatch(channel)
        del channel
        self.accepted.clear()
        client.close()
        watch.wait('the server-made channel to be finalized')

    def test_server_channel_alive_while_open(self):
        # Nobody holds the channel; the main loop keeps it (and its Python
        # state) alive until it closes.
        port = self.start(Achat.Server.new(EchoLineChannel))
        client, channel = self.accept_one(port)
        watch = FinalizationWatch(channel)
        del channel
        self.accepted.clear()
        send(client, b'still there\n')
        self.assertEqual(receive(client, 12), b'STILL THERE\n')
        gc.collect()
        self.assertFalse(watch.finalized)
        self.assertEqual(watch.wrapper().lines, [b'still there'])
    def test_out_of_descriptors_backs_off_and_recovers(self):
        # The process at its descriptor limit: accept-failed carries the
        # GError, backing-off says so, a few attempts are made (not a spin),
        # and the waiting client is served once descriptors are free.
        server = Achat.Server.new(EchoLineChannel)
        port = self.start(server)
        failures = []
        notified = []
        server.connect('accept-failed', lambda server, error: failures.append(error))
        server.connect('notify::backing-off', lambda server, pspec: notified.append(server.props.backing_off))
        self.assertFalse(server.props.backing_off)
        client = self.connect_client(port)
        send(client, b'late\n')

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        fds = []
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            while True:
                try:
                    fds.append(os.open('/dev/null', os.O_RDONLY | os.O_CLOEXEC))
                except OSError:
                    break
            deadline = GLib.get_monotonic_time() + 1_000_000
            iterate_until(lambda: GLib.get_monotonic_time() > deadline, 'a second')
        finally:
            for fd in fds:
                os.close(fd)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        self.assertEqual(self.accepted, [])
        self.assertTrue(server.get_backing_off())
        self.assertEqual(notified, [True])
        # 10, 20, 40 ... ms apart: 7 in a second, give or take a slow start.
        self.assertGreaterEqual(len(failures), 3)
        self.assertLessEqual(len(failures), 10)
        for error in failures:
            self.assertTrue(error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TOO_MANY_OPEN_FILES))
        self.assertEqual(receive(client, 5), b'LATE\n')
        self.assertFalse(server.props.backing_off)
        self.assertEqual(notified, [True, False])


class ConnectToHostTest(ChannelTestCase):
    """The client side: Achat.Channel.connect_to_host_async/_finish."""

    start = ServerTest.start

    def connect(self, host_and_port, cancellable=None):
        results = []
        Achat.Channel.connect_to_host_async(
            host_and_port, 0, cancellable,
            lambda source, result: results.append(result))
        iterate_until(lambda: results, 'the connection attempt')
        return Achat.Channel.connect_to_host_finish(results[0])

    def test_connect_and_talk(self):
        port = self.start(Achat.Server.new(EchoLineChannel))
        channel = self.connect('127.0.0.1:%d' % port)
        self.assertIsInstance(channel, Achat.Channel)
        channel.set_terminator(b'\n')
        recorder = Recorder(channel)
        channel.push(b'hello\nworld\n')
        iterate_until(lambda: len(recorder.messages()) == 2, 'two replies')
        self.assertEqual(recorder.messages(), [b'HELLO', b'WORLD'])
        channel.close()
        self.assertEqual(recorder.simple()[-1], ('closed', None))

    def test_connect_refused(self):
        listener = socket.socket()
        listener.bind(('127.0.0.1', 0))
        port = listener.getsockname()[1]
        listener.close()   # nothing listens there now
        with self.assertRaises(GLib.Error) as caught:
            self.connect('127.0.0.1:%d' % port)
        self.assertTrue(caught.exception.matches(Gio.io_error_quark(),
                                                 Gio.IOErrorEnum.CONNECTION_REFUSED))

    def test_connect_cancelled(self):
        cancellable = Gio.Cancellable()
        cancellable.cancel()
        with self.assertRaises(GLib.Error) as caught:
            self.connect('127.0.0.1:9', cancellable)
        self.assertTrue(caught.exception.matches(Gio.io_error_quark(),
                                                 Gio.IOErrorEnum.CANCELLED))


if __name__ == '__main__':
    taptest.main()
