# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""STARTTLS from Python: a server and a client channel over a socket pair
switch to TLS with a self-signed certificate made with openssl at start;
the bytes on the wire; plaintext injected behind the STARTTLS command or
its reply (ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS); a certificate the client
does not trust, and accepting it from accept-certificate.

Skipped as a whole ("1..0 # SKIP") without openssl or a TLS backend."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile

import taptest
from achattest import (Achat, ChannelTestCase, Gio, GLib, Recorder, iterate, iterate_until,
                       receive, receive_until_eof, send)

# Set by main() before the tests run.
CERTIFICATE = None      # Gio.TlsCertificate with its key
DATABASE = None         # Gio.TlsDatabase trusting it

# A TLS handshake on a loaded machine (or under ASan) takes longer than
# the usual 5 s of achattest.
TLS_TIMEOUT = 20.0


def missing_prerequisite():
    if shutil.which('openssl') is None:
        return 'openssl is not installed'
    if not Gio.TlsBackend.get_default().supports_tls():
        return 'no GIO TLS backend (glib-networking)'
    return None


def make_certificate(directory):
    cert = os.path.join(directory, 'cert.pem')
    key = os.path.join(directory, 'key.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec',
                    '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-days', '2',
                    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    return Gio.TlsCertificate.new_from_files(cert, key), Gio.TlsFileDatabase.new(cert)


def is_error(error, domain, code):
    return isinstance(error, GLib.Error) and error.matches(domain, code)


def describe(error):
    if isinstance(error, GLib.Error):
        return f'{error.domain} {error.code}: {error.message}'
    return repr(error)


class Result:
    """The outcome of a start_tls_*_async() call: `value` is True, or the
    GLib.Error its finish raised; `done` once the callback ran."""

    def __init__(self):
        self.done = False
        self.value = None
        self.calls = 0

    def callback(self, finish):
        def on_ready(channel, result):
            self.calls += 1
            try:
                self.value = finish(channel, result)
            except GLib.Error as error:
                self.value = error
            self.done = True
        return on_ready


class Server:
    """The server side of a STARTTLS protocol on an achat channel: on
    "STARTTLS" it pushes "220 go" and starts TLS; it echoes other lines."""

    def __init__(self, channel, certificate=None):
        self.channel = channel
        self.certificate = certificate or CERTIFICATE
        self.recorder = Recorder(channel)
        self.tls = Result()
        self.handshaking = []
        self.tls_done_at_message = []
        channel.set_terminator(b'\r\n')
        channel.connect('terminator-found', self.on_message)
        channel.connect('tls-handshaking', lambda channel, conn: self.handshaking.append(conn))

    # snippet-begin starttls-server
    def on_message(self, channel, message):
        data = message.get_data()
        self.tls_done_at_message.append(self.tls.done)
        if data == b'STARTTLS':
            channel.push(b'220 go\r\n')
            channel.start_tls_server_async(self.certificate, None,
                                           self.tls.callback(Achat.Channel.start_tls_server_finish))
        else:
            channel.push(b'echo: ' + data + b'\r\n')
    # snippet-end starttls-server


class Client:
    """The client side: pushes "STARTTLS", and on "220 go" starts TLS and
    pushes "hello" at once (it must wait and go encrypted)."""

    def __init__(self, channel, identity='localhost', database=True, accept=None,
                 send_starttls=True):
        self.channel = channel
        self.recorder = Recorder(channel)
        self.tls = Result()
        self.identity = identity
        self.database = database
        self.accept = accept        # None, or what accept-certificate returns
        self.accept_calls = []
        self.handshaking = []
        channel.set_terminator(b'\r\n')
        channel.connect('terminator-found', self.on_message)
        channel.connect('tls-handshaking', self.on_handshaking)
        if send_starttls:
            channel.push(b'STARTTLS\r\n')

    def on_message(self, channel, message):
        if message.get_data() == b'220 go':
            identity = Gio.NetworkAddress.new(self.identity, 0) if self.identity else None
            channel.start_tls_client_async(identity, None,
                                           self.tls.callback(Achat.Channel.start_tls_client_finish))
            channel.push(b'hello\r\n')

    def on_accept_certificate(self, conn, certificate, errors):
        self.accept_calls.append((certificate, errors))
        return self.accept

    def on_handshaking(self, channel, conn):
        self.handshaking.append(conn)
        if self.database:
            conn.set_database(DATABASE)
        if self.accept is not None:
            conn.connect('accept-certificate', self.on_accept_certificate)


class Relay:
    """Forwards bytes between two socket pairs, recording what each side
    sent: the wire between a client and a server channel."""

    def __init__(self, test):
        self.client_end, client_relay = socket.socketpair()
        server_relay, self.server_end = socket.socketpair()
        for sock in (client_relay, server_relay):
            test.addCleanup(sock.close)
        self.to_server = bytearray()
        self.to_client = bytearray()
        self.sources = {}
        self.watch(client_relay, server_relay, self.to_server)
        self.watch(server_relay, client_relay, self.to_client)
        test.addCleanup(self.stop)

    def watch(self, source, destination, record):
        def forward(fd, condition):
            try:
                data = source.recv(65536)
            except OSError:
                data = b''
            if not data:
                try:
                    destination.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                del self.sources[fd]
                return GLib.SOURCE_REMOVE
            record.extend(data)
            destination.sendall(data)
            return GLib.SOURCE_CONTINUE

        fd = source.fileno()
        self.sources[fd] = GLib.io_add_watch(fd, GLib.PRIORITY_DEFAULT,
                                             GLib.IOCondition.IN | GLib.IOCondition.HUP,
                                             forward)

    def stop(self):
        for source in self.sources.values():
            GLib.source_remove(source)
        self.sources = {}


class TlsTestCase(ChannelTestCase):

    def channel_over(self, sock):
        channel = Achat.Channel(socket=Gio.Socket.new_from_fd(sock.detach()))
        self.addCleanup(channel.close)
        return channel

    def channel_pair(self):
        """A server and a client channel over a socket pair."""
        a, b = socket.socketpair()
        return self.channel_over(a), self.channel_over(b)

    def channel_and_peer(self):
        gsocket, peer = self.socket_pair()
        channel = Achat.Channel(socket=gsocket)
        self.addCleanup(channel.close)
        return channel, peer

    def wait(self, condition, what):
        iterate_until(condition, what, timeout=TLS_TIMEOUT)

    def assert_achat_error(self, error, code):
        self.assertTrue(is_error(error, Achat.error_quark(), code),
                        f'expected {code!r}, got {describe(error)}')


class StartTlsTest(TlsTestCase):

    def test_full_starttls(self):
        server_channel, client_channel = self.channel_pair()
        self.assertIsNone(server_channel.get_tls_connection())
        self.assertIsNone(client_channel.get_tls_connection())
        server = Server(server_channel)
        client = Client(client_channel)
        self.wait(lambda: len(client.recorder.messages()) >= 2 or client.recorder.is_closed()
                  or server.recorder.is_closed(), 'the echo over TLS')

        self.assertIs(server.tls.value, True, describe(server.tls.value))
        self.assertIs(client.tls.value, True, describe(client.tls.value))
        self.assertEqual((server.tls.calls, client.tls.calls), (1, 1))
        self.assertEqual(client.recorder.messages(), [b'220 go', b'echo: hello'])
        self.assertEqual(server.recorder.messages(), [b'STARTTLS', b'hello'])
        # "hello", pushed right after start_tls, came after the handshake.
        self.assertEqual(server.tls_done_at_message, [False, True])

        server_tls = server_channel.get_tls_connection()
        client_tls = client_channel.get_tls_connection()
        self.assertIsInstance(server_tls, Gio.TlsServerConnection)
        self.assertIsInstance(client_tls, Gio.TlsClientConnection)
        self.assertEqual(server.handshaking, [server_tls])
        self.assertEqual(client.handshaking, [client_tls])
        self.assertTrue(client_tls.get_peer_certificate().is_same(CERTIFICATE))
        self.assertEqual(client_tls.get_peer_certificate_errors(), 0)
        self.assertIs(server_channel.props.tls_connection, server_tls)
        self.assertFalse(server.recorder.is_closed())
        self.assertFalse(client.recorder.is_closed())

        # More lines both ways, then an orderly close.
        client_channel.push(b'second\r\n')
        self.wait(lambda: len(client.recorder.messages()) >= 3 or client.recorder.is_closed(),
                  'the second echo')
        self.assertEqual(client.recorder.messages()[2:], [b'echo: second'])
        client_channel.close_when_done()
        self.wait(lambda: server.recorder.is_closed() and client.recorder.is_closed(),
                  'both channels to close')
        self.assertIsNone(client.recorder.close_error())
        self.assertIsNone(server.recorder.close_error(), describe(server.recorder.close_error()))

    def test_large_plaintext_output_before_the_switch(self):
        # 1 MiB of lines pushed before "220 go" takes many writes: all of it
        # goes out in plaintext before the handshake, none of it after.
        lines = [b'%06d ' % i + b'x' * 1017 for i in range(1024)]
        server_channel, client_channel = self.channel_pair()
        server = Server(server_channel)
        original = server.on_message

        def on_message(channel, message):
            if message.get_data() == b'STARTTLS':
                for line in lines:
                    channel.push(line + b'\r\n')
            original(channel, message)

        server_channel.disconnect_by_func(original)
        server_channel.connect('terminator-found', on_message)
        client = Client(client_channel)
        self.wait(lambda: len(client.recorder.messages()) >= len(lines) + 2
                  or client.recorder.is_closed() or server.recorder.is_closed(),
                  'the lines and the echo over TLS')
        self.assertIs(server.tls.value, True, describe(server.tls.value))
        self.assertIs(client.tls.value, True, describe(client.tls.value))
        self.assertEqual(client.recorder.messages(), lines + [b'220 go', b'echo: hello'])

    def test_bytes_on_the_wire(self):
        relay = Relay(self)
        server = Server(self.channel_over(relay.server_end))
        client = Client(self.channel_over(relay.client_end))
        self.wait(lambda: len(client.recorder.messages()) >= 2 or client.recorder.is_closed()
                  or server.recorder.is_closed(), 'the echo over TLS')
        self.assertEqual(client.recorder.messages(), [b'220 go', b'echo: hello'])

        to_server, to_client = bytes(relay.to_server), bytes(relay.to_client)
        self.assertTrue(to_server.startswith(b'STARTTLS\r\n'), to_server[:40])
        self.assertTrue(to_client.startswith(b'220 go\r\n'), to_client[:40])
        # Then TLS records: a handshake record (22) first in each direction.
        self.assertEqual(to_server[10:12], b'\x16\x03', to_server[:40])
        self.assertEqual(to_client[8:10], b'\x16\x03', to_client[:40])
        self.assertNotIn(b'hello', to_server)
        self.assertNotIn(b'echo', to_client)


class InjectionTest(TlsTestCase):

    def check_server_refuses(self, data, pending):
        channel, peer = self.channel_and_peer()
        # Sent before the channel reads: STARTTLS and what follows come in
        # one read.
        send(peer, data)
        server = Server(channel)
        self.wait(lambda: server.tls.done, 'start_tls_server_finish')

        self.assert_achat_error(server.tls.value, Achat.Error.PLAINTEXT_AFTER_STARTTLS)
        self.assertIn(f'{pending} bytes', server.tls.value.message)
        self.assertEqual(server.recorder.messages(), [b'STARTTLS'])
        self.assertFalse(any(b'RCPT' in value for kind, value in server.recorder.simple()
                             if kind == 'c'))
        self.assertEqual(server.recorder.closed_count(), 1)
        closed_error = server.recorder.close_error()
        self.assert_achat_error(closed_error, Achat.Error.PLAINTEXT_AFTER_STARTTLS)
        self.assertEqual(closed_error.message, server.tls.value.message)
        self.assertEqual(server.handshaking, [])
        self.assertIsNone(channel.get_tls_connection())
        self.assertTrue(channel.is_closed())
        self.assertEqual(receive_until_eof(peer), b'220 go\r\n')

    def test_server_side(self):
        self.check_server_refuses(b'STARTTLS\r\nRCPT TO:<evil>\r\n', 16)

    def test_server_side_partial_line(self):
        self.check_server_refuses(b'STARTTLS\r\nRCPT', 4)

    def test_server_side_two_sends_before_the_read(self):
        channel, peer = self.channel_and_peer()
        send(peer, b'STARTTLS\r\n')
        send(peer, b'RCPT TO:<evil>\r\n')
        server = Server(channel)
        self.wait(lambda: server.tls.done, 'start_tls_server_finish')
        self.assert_achat_error(server.tls.value, Achat.Error.PLAINTEXT_AFTER_STARTTLS)
        self.assertIn('16 bytes', server.tls.value.message)
        self.assertEqual(server.recorder.messages(), [b'STARTTLS'])
        self.assertEqual(receive_until_eof(peer), b'220 go\r\n')

    def test_client_side(self):
        channel, peer = self.channel_and_peer()
        client = Client(channel)
        self.assertEqual(receive(peer, 10), b'STARTTLS\r\n')
        send(peer, b'220 go\r\nINJECTED\r\n')
        self.wait(lambda: client.tls.done, 'start_tls_client_finish')

        self.assert_achat_error(client.tls.value, Achat.Error.PLAINTEXT_AFTER_STARTTLS)
        self.assertIn('10 bytes', client.tls.value.message)
        self.assertEqual(client.recorder.messages(), [b'220 go'])
        self.assertFalse(any(b'INJECTED' in value for kind, value in client.recorder.simple()
                             if kind == 'c'))
        self.assertEqual(client.recorder.closed_count(), 1)
        closed_error = client.recorder.close_error()
        self.assert_achat_error(closed_error, Achat.Error.PLAINTEXT_AFTER_STARTTLS)
        self.assertEqual(closed_error.message, client.tls.value.message)
        self.assertEqual(client.handshaking, [])
        # Neither a ClientHello nor the "hello" pushed after start_tls.
        self.assertEqual(receive_until_eof(peer), b'')


class CertificateTest(TlsTestCase):

    def run_handshake(self, **client_options):
        server_channel, client_channel = self.channel_pair()
        server = Server(server_channel)
        client = Client(client_channel, **client_options)
        self.wait(lambda: server.tls.done and client.tls.done, 'both finishes')
        return server, client

    def test_self_signed_rejected_without_database(self):
        server, client = self.run_handshake(database=False)
        error = client.tls.value
        self.assertTrue(is_error(error, Gio.tls_error_quark(), Gio.TlsError.BAD_CERTIFICATE),
                        describe(error))
        self.wait(lambda: client.recorder.is_closed() and server.recorder.is_closed(),
                  'both channels to close')
        closed_error = client.recorder.close_error()
        self.assertTrue(is_error(closed_error, Gio.tls_error_quark(),
                                 Gio.TlsError.BAD_CERTIFICATE), describe(closed_error))
        self.assertIsInstance(server.tls.value, GLib.Error)
        self.assertIsInstance(server.recorder.close_error(), GLib.Error)
        self.assertEqual(client.recorder.closed_count(), 1)
        self.assertEqual(server.recorder.closed_count(), 1)
        self.assertEqual(server.recorder.messages(), [b'STARTTLS'])
        self.assertEqual(client.recorder.messages(), [b'220 go'])

    def test_accept_certificate_handler(self):
        server, client = self.run_handshake(database=False, accept=True)
        self.assertIs(client.tls.value, True, describe(client.tls.value))
        self.assertIs(server.tls.value, True, describe(server.tls.value))
        self.assertEqual(len(client.accept_calls), 1)
        certificate, errors = client.accept_calls[0]
        self.assertTrue(certificate.is_same(CERTIFICATE))
        self.assertTrue(errors & Gio.TlsCertificateFlags.UNKNOWN_CA, errors)
        self.wait(lambda: len(client.recorder.messages()) >= 2 or client.recorder.is_closed(),
                  'the echo')
        self.assertEqual(client.recorder.messages(), [b'220 go', b'echo: hello'])

    def test_accept_certificate_handler_refusing(self):
        server, client = self.run_handshake(database=False, accept=False)
        self.assertEqual(len(client.accept_calls), 1)
        self.assertTrue(is_error(client.tls.value, Gio.tls_error_quark(),
                                 Gio.TlsError.BAD_CERTIFICATE), describe(client.tls.value))
        self.wait(lambda: client.recorder.is_closed(), 'the client to close')
        self.assertEqual(server.recorder.messages(), [b'STARTTLS'])

    def test_wrong_identity(self):
        server, client = self.run_handshake(identity='example.org', accept=False)
        self.assertEqual(len(client.accept_calls), 1)
        certificate, errors = client.accept_calls[0]
        self.assertTrue(errors & Gio.TlsCertificateFlags.BAD_IDENTITY, errors)
        self.assertFalse(errors & Gio.TlsCertificateFlags.UNKNOWN_CA, errors)
        self.assertTrue(is_error(client.tls.value, Gio.tls_error_quark(),
                                 Gio.TlsError.BAD_CERTIFICATE), describe(client.tls.value))


class StartTlsCallTest(TlsTestCase):

    def test_second_call_while_pending(self):
        channel, peer = self.channel_and_peer()
        first, second = Result(), Result()
        finish = Achat.Channel.start_tls_client_finish
        channel.start_tls_client_async(None, None, first.callback(finish))
        channel.start_tls_client_async(None, None, second.callback(finish))
        self.wait(lambda: second.done, 'the second call to fail')
        self.assertTrue(is_error(second.value, Gio.io_error_quark(), Gio.IOErrorEnum.PENDING),
                        describe(second.value))
        channel.close()
        self.wait(lambda: first.done, 'the first call to end')
        self.assertIsInstance(first.value, GLib.Error)

    def test_on_a_closed_channel(self):
        channel, peer = self.channel_and_peer()
        channel.close()
        result = Result()
        channel.start_tls_server_async(CERTIFICATE, None,
                                       result.callback(Achat.Channel.start_tls_server_finish))
        self.wait(lambda: result.done, 'the call to fail')
        self.assertTrue(is_error(result.value, Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED),
                        describe(result.value))

    def test_closed_from_tls_handshaking(self):
        channel, peer = self.channel_and_peer()
        recorder = Recorder(channel)
        result = Result()
        seen = []

        def on_handshaking(channel, conn):
            seen.append(conn)
            channel.close()

        channel.connect('tls-handshaking', on_handshaking)
        channel.start_tls_client_async(None, None,
                                       result.callback(Achat.Channel.start_tls_client_finish))
        self.wait(lambda: result.done, 'the call to fail')
        self.assertEqual(len(seen), 1)
        self.assertTrue(is_error(result.value, Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED),
                        describe(result.value))
        self.assertEqual(recorder.simple(), [('closed', None)])
        # No ClientHello went out.
        self.assertEqual(receive_until_eof(peer), b'')

    def test_closed_during_the_handshake(self):
        # The peer never answers the ClientHello.
        channel, peer = self.channel_and_peer()
        recorder = Recorder(channel)
        result = Result()
        channel.start_tls_client_async(None, None,
                                       result.callback(Achat.Channel.start_tls_client_finish))
        hello = receive(peer, 5)
        self.assertEqual(hello[:2], b'\x16\x03', hello)
        self.assertFalse(result.done)
        channel.close()
        self.wait(lambda: result.done, 'the call to fail')
        self.assertTrue(is_error(result.value, Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED),
                        describe(result.value))
        self.assertEqual(recorder.simple(), [('closed', None)])
        iterate(10)
        self.assertEqual(result.calls, 1)

    def test_peer_not_speaking_tls(self):
        channel, peer = self.channel_and_peer()
        send(peer, b'STARTTLS\r\n')
        server = Server(channel)
        self.assertEqual(receive(peer, 8), b'220 go\r\n')
        send(peer, b'RCPT TO:<late>\r\n' * 4)
        self.wait(lambda: server.tls.done, 'start_tls_server_finish')
        self.assertIsInstance(server.tls.value, GLib.Error)
        self.assertEqual(server.tls.value.domain, 'g-tls-error-quark', describe(server.tls.value))
        self.assertEqual(server.recorder.messages(), [b'STARTTLS'])
        self.assertEqual(server.recorder.closed_count(), 1)
        self.assertEqual(server.recorder.close_error().message, server.tls.value.message)

    def test_cancelled(self):
        channel, peer = self.channel_and_peer()
        recorder = Recorder(channel)
        cancellable = Gio.Cancellable()
        result = Result()
        channel.start_tls_client_async(None, cancellable,
                                       result.callback(Achat.Channel.start_tls_client_finish))
        iterate(5)
        cancellable.cancel()
        self.wait(lambda: result.done, 'the call to fail')
        self.assertTrue(is_error(result.value, Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED),
                        describe(result.value))
        self.wait(recorder.is_closed, 'the channel to close')
        self.assertTrue(is_error(recorder.close_error(), Gio.io_error_quark(),
                                 Gio.IOErrorEnum.CANCELLED), describe(recorder.close_error()))


def main():
    global CERTIFICATE, DATABASE
    reason = missing_prerequisite()
    if reason is not None:
        print(f'1..0 # SKIP {reason}')
        sys.exit(0)
    with tempfile.TemporaryDirectory(prefix='achat-tls-') as directory:
        CERTIFICATE, DATABASE = make_certificate(directory)
        taptest.main()


if __name__ == '__main__':
    main()
