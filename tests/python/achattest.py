# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Helpers shared by the Python tests of achat: the main loop, socket
peers, and a recorder of channel signals."""

import gc
import socket
import struct
import threading
import time
import unittest
import weakref

import gi

gi.require_version('Achat', '1.0')
gi.require_version('Gio', '2.0')
from gi.repository import Achat, Gio, GLib, GObject  # noqa: E402

__all__ = [
    'Achat', 'Gio', 'GLib', 'GObject',
    'iterate', 'iterate_until', 'FinalizationWatch',
    'socket_pair', 'tcp_pair', 'reset', 'send', 'receive', 'receive_until_eof',
    'nothing_to_receive', 'Recorder', 'LogCapture', 'ChannelTestCase',
]

# How long a test waits for something that should happen at once.
TIMEOUT = 5.0



def loopback_server(test, on_accepted, channel_type=None):
    """An Achat.Server listening on 127.0.0.1 with a port the kernel picks,
    calling @on_accepted(server, channel) for each connection, started and
    stopped and closed with @test. Returns its Gio.InetSocketAddress."""
    server = Achat.Server() if channel_type is None else Achat.Server.new(channel_type)
    ok, address = server.add_address(
        Gio.InetSocketAddress.new_from_string('127.0.0.1', 0),
        Gio.SocketType.STREAM, Gio.SocketProtocol.TCP, None)
    test.assertTrue(ok)
    server.connect('channel-accepted', on_accepted)
    server.start()
    test.addCleanup(server.close)
    test.addCleanup(server.stop)
    return address

def glib_asyncio():
    """asyncio on GLib's main loop, as the tutorial sets it up; returns the
    loop. For the tests that await (test_async, test_pull)."""
    import asyncio

    # snippet-begin asyncio-setup
    try:
        from gi.events import GLibEventLoopPolicy   # PyGObject 3.50 and later
    except ImportError:
        from gbulb import GLibEventLoopPolicy       # older PyGObject: python3-gbulb
    asyncio.set_event_loop_policy(GLibEventLoopPolicy())   # asyncio on GLib's main loop
    loop = asyncio.get_event_loop_policy().get_event_loop()
    # snippet-end asyncio-setup
    return loop

def iterate(times=10):
    """Runs @times non-blocking iterations of the default main context."""
    context = GLib.MainContext.default()
    for _ in range(times):
        context.iteration(False)


def iterate_until(condition, what, timeout=TIMEOUT):
    """Iterates the default main context until condition() is true; fails
    the test after @timeout seconds."""
    context = GLib.MainContext.default()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        if not context.iteration(False):
            time.sleep(0.001)


class FinalizationWatch:
    """Watches a GObject (g_object_weak_ref()) and its Python wrapper
    (weakref) without keeping either alive: a plain wrapper may die while
    its GObject lives on, and a wrapper with Python state lives as long as
    the GObject."""

    def __init__(self, gobject):
        self.finalized = False
        self.wrapper = weakref.ref(gobject)
        self._weak_ref = gobject.weak_ref(self._on_finalized)

    def _on_finalized(self):
        self.finalized = True

    def wait(self, what):
        """Iterates and collects garbage until both are gone."""
        def gone():
            gc.collect()
            return self.finalized and self.wrapper() is None
        iterate_until(gone, what)


def socket_pair():
    """Returns a connected Gio.Socket and the non-blocking Python socket at
    the other end (an AF_UNIX stream pair)."""
    ours, peer = socket.socketpair()
    gsocket = Gio.Socket.new_from_fd(ours.detach())
    peer.setblocking(False)
    return gsocket, peer


def tcp_pair():
    """Returns a Gio.Socket and the non-blocking Python socket at the other
    end of a loopback TCP connection."""
    with socket.create_server(('127.0.0.1', 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    peer.setblocking(False)
    return Gio.Socket.new_from_fd(ours.detach()), peer


def reset(peer):
    """Closes the TCP socket @peer with a reset instead of a FIN."""
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
    peer.close()


def send(peer, data):
    """Sends all of @data from the non-blocking socket @peer, iterating the
    main context while the socket is full."""
    view = memoryview(data)
    deadline = time.monotonic() + TIMEOUT
    while view:
        try:
            view = view[peer.send(view):]
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise AssertionError(f'timed out sending {len(view)} more bytes')
            iterate(1)


def receive(peer, size):
    """Receives exactly @size bytes on the non-blocking socket @peer,
    iterating the main context meanwhile."""
    received = bytearray()

    def done():
        while len(received) < size:
            try:
                chunk = peer.recv(size - len(received))
            except BlockingIOError:
                return False
            if not chunk:
                raise AssertionError(f'end of stream after {len(received)} of {size} bytes')
            received.extend(chunk)
        return True

    iterate_until(done, f'{size} bytes from the channel')
    return bytes(received)


def receive_until_eof(peer):
    """Receives everything on the non-blocking socket @peer until the
    channel closes its end."""
    received = bytearray()
    eof = False

    def done():
        nonlocal eof
        while not eof:
            try:
                chunk = peer.recv(65536)
            except BlockingIOError:
                return False
            eof = not chunk
            received.extend(chunk)
        return True

    iterate_until(done, 'the end of the stream from the channel')
    return bytes(received)


class Writer(threading.Thread):
    """Writes @data to the blocking socket @peer from a thread, 64 KiB at a
    time, then shuts its sending side; an OSError is kept in `error`."""

    def __init__(self, peer, data):
        super().__init__(daemon=True)
        self.peer = peer
        self.data = data
        self.error = None

    def run(self):
        try:
            view = memoryview(self.data)
            for offset in range(0, len(view), 65536):
                self.peer.sendall(view[offset:offset + 65536])
            self.peer.shutdown(socket.SHUT_WR)
        except OSError as error:
            self.error = error


def nothing_to_receive(peer):
    """Whether the non-blocking socket @peer has no data (and no EOF)."""
    try:
        peer.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    return False


class Recorder:
    """Records the signals of a channel as ('c', data), ('T', message) and
    ('closed', error) tuples, keeping the GLib.Bytes and GLib.Error.

    The recorder does not reference the channel, so recording does not keep
    a channel alive."""

    def __init__(self, channel, data_collected=True):
        self.events = []
        if data_collected:
            channel.connect('data-collected', self._on_data_collected)
        channel.connect('terminator-found', self._on_terminator_found)
        channel.connect('closed', self._on_closed)

    def _on_data_collected(self, channel, data):
        self.events.append(('c', data))

    def _on_terminator_found(self, channel, message):
        self.events.append(('T', message))

    def _on_closed(self, channel, error):
        self.events.append(('closed', error))

    def simple(self):
        """The events with bytes instead of GLib.Bytes."""
        return [(kind, value.get_data() if kind != 'closed' else value)
                for kind, value in self.events]

    def messages(self):
        return [value.get_data() for kind, value in self.events if kind == 'T']

    def closed_count(self):
        return sum(1 for kind, _ in self.events if kind == 'closed')

    def is_closed(self):
        return self.closed_count() > 0

    def close_error(self):
        (error,) = [value for kind, value in self.events if kind == 'closed']
        return error


class LogCapture:
    """Collects the warnings and criticals logged in some GLib log domains
    while the `with` block runs (instead of printing them)."""

    LEVELS = GLib.LogLevelFlags.LEVEL_WARNING | GLib.LogLevelFlags.LEVEL_CRITICAL

    def __init__(self, *domains):
        self.domains = domains
        self.messages = []
        self._handlers = []

    def _log(self, domain, level, message, user_data):
        self.messages.append(f'{domain}: {message}')

    def __enter__(self):
        self._handlers = [(domain, GLib.log_set_handler(domain, self.LEVELS, self._log, None))
                          for domain in self.domains]
        return self

    def __exit__(self, *exc_info):
        for domain, handler in self._handlers:
            GLib.log_remove_handler(domain, handler)
        return False


class ChannelTestCase(unittest.TestCase):
    """A test case whose peers are closed, and whose channels therefore
    close, when the test ends."""

    def setUp(self):
        # Cleanups run last-in first-out: this one runs after the peers
        # are closed, so that their channels see it and close.
        self.addCleanup(iterate, 20)

    def socket_pair(self):
        gsocket, peer = socket_pair()
        self.addCleanup(peer.close)
        return gsocket, peer

    def tcp_pair(self):
        gsocket, peer = tcp_pair()
        self.addCleanup(peer.close)
        return gsocket, peer

    def line_channel(self, channel_type=Achat.Channel, data_collected=True):
        """A channel over a socket pair with "\\n" as terminator, its
        recorder and its peer."""
        gsocket, peer = self.socket_pair()
        channel = channel_type(socket=gsocket)
        channel.set_terminator(b'\n')
        return channel, Recorder(channel, data_collected), peer

    def feed(self, channel, peer, reads):
        """Sends each of @reads from @peer and waits until the channel has
        read it, so that each arrives in a read of its own."""
        total = channel.get_bytes_received()
        for chunk in reads:
            send(peer, chunk)
            total += len(chunk)
            iterate_until(lambda: channel.get_bytes_received() >= total or channel.is_closed(),
                          f'the channel to read {chunk!r}')
