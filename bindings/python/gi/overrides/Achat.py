# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""asyncio for Achat.Channel, with asyncio running on GLib's main loop
(gi.events.GLibEventLoopPolicy from PyGObject 3.50, gbulb before):

    reply = await channel.read_message()      # a GLib.Bytes; None at the end
    line = await channel.read_line()          # up to "\\r\\n" or "\\n"
    head = await channel.read_until(b"\\r\\n\\r\\n")
    body = await channel.read_bytes(length)   # exactly that many bytes
    async for message in channel.messages():  # until the end
        ...
    await channel.drain()                     # what was pushed is written
    channel = await Achat.Channel.connect_to(Gio.NetworkAddress.new("example.org", 7000))

Each read is framed when it is called: the terminator in force then (or
the one read_line(), read_until() or read_bytes() sets, which stays in
force) frames the message it returns, whenever the bytes came. The reads
and drain() start their call at once, when they are called, and return an
asyncio.Future; cancelling it, or the task awaiting it, cancels the call.
Nothing else about Achat.Channel changes.
"""

import asyncio

from gi.repository import Gio, GLib

from ..module import get_introspection_module
from ..overrides import override

Achat = get_introspection_module('Achat')

__all__ = []


class _Call(asyncio.Future):
    """The future of one asynchronous call on a channel."""

    def __init__(self):
        super().__init__()
        self.cancellable = Gio.Cancellable()

    def cancel(self, msg=None):
        # At once, not in a done callback: the channel must know before it
        # hands the next message to this call.
        if not self.done():
            self.cancellable.cancel()
        return super().cancel(msg)

    def settle(self, finish, channel, result):
        """Completes the future from the GAsyncReadyCallback; returns what
        came when the future was cancelled already."""
        try:
            value = finish(channel, result)
        except GLib.Error as error:
            if not self.done():
                self.set_exception(error)
            return error
        if not self.done():
            self.set_result(value)
        return value


class _Drain(_Call):

    def start(self, channel):
        channel.drain_async(self.cancellable, self.complete)

    def complete(self, channel, result):
        self.settle(Achat.Channel.drain_finish, channel, result)


class _Connect(_Call):

    def start(self, connectable, client, channel_type):
        Achat.Channel.connect_async(connectable, client, channel_type,
                                    self.cancellable, self.complete)

    def complete(self, source, result):
        self.settle(lambda _source, result: Achat.Channel.connect_finish(result),
                    source, result)


class _Read(_Call):
    # A read asked for while this one, cancelled, was still running: the
    # channel refuses a second read, so it starts when this one ends.
    next = None

    def __init__(self, framing=None):
        super().__init__()
        # Sets the framing of this read on the channel, just before it starts
        # (when it starts late, after a cancelled read).
        self.framing = framing

    def start(self, channel):
        if channel._achat_read is None:   # else the channel refuses this one
            channel._achat_read = self
        if self.framing is not None:
            self.framing(channel)
        channel.read_message_async(self.cancellable, self.complete)

    def complete(self, channel, result):
        if channel._achat_read is self:
            channel._achat_read = None
        came = self.settle(Achat.Channel.read_message_finish, channel, result)
        if not self.cancelled():
            return
        waiting = self.next if self.next is not None and not self.next.done() else None
        if isinstance(came, GLib.Bytes):
            # The message came with the cancellation: the next read gets it.
            if waiting is not None:
                waiting.set_result(came)
            else:
                channel._achat_unread = came
        elif waiting is not None:
            waiting.start(channel)


class Channel(Achat.Channel):

    _achat_read = None     # the read running
    _achat_unread = None   # a message that came to a cancelled read

    def read_message(self):
        """Reads the next message (Achat.Channel.read_message_async(),
        started now): an awaitable returning a GLib.Bytes, or None at the
        clean end of the stream, or raising the GLib.Error the channel
        ended with (Gio.IOErrorEnum.PARTIAL_INPUT: the end came in the
        middle of a message). Cancelling it loses no message."""
        return self._achat_read_framed(None)

    def _achat_read_framed(self, framing):
        call = _Read(framing)
        running = self._achat_read
        if self._achat_unread is not None:
            # Framed already, by a read that was cancelled as it came.
            call.set_result(self._achat_unread)
            self._achat_unread = None
        elif running is not None and running.cancelled() and (
                running.next is None or running.next.done()):
            running.next = call
        else:
            call.start(self)
        return call

    def read_until(self, terminator):
        """Reads up to @terminator (bytes, not included): sets it as the
        channel's terminator (it stays in force), then read_message()."""
        if not terminator:
            raise ValueError('read_until() needs a terminator of at least one byte')
        terminator = bytes(terminator)
        return self._achat_read_framed(lambda c: c.set_terminator(terminator))

    def read_line(self):
        """Reads a line ended by "\\r\\n" or "\\n" (not included): sets both
        as the channel's terminators (they stay in force), then
        read_message()."""
        return self._achat_read_framed(lambda c: c.set_terminators(['\r\n', '\n']))

    def read_bytes(self, count):
        """Reads exactly the next @count bytes (count >= 1): sets a count
        terminator, then read_message(). Raises
        Gio.IOErrorEnum.PARTIAL_INPUT when the stream ends before them."""
        if count < 1:
            raise ValueError('read_bytes() needs a count of at least 1')
        return self._achat_read_framed(lambda c: c.set_terminator_count(count))

    def drain(self):
        """Waits until what was queued before the call has been written
        (Achat.Channel.drain_async(), started now): an awaitable returning
        True, or raising a GLib.Error when the channel closed first."""
        call = _Drain()
        call.start(self)
        return call

    @classmethod
    def connect_to(cls, connectable, client=None, channel_type=None):
        """Connects to @connectable (any Gio.SocketConnectable: a
        Gio.NetworkAddress, a Gio.UnixSocketAddress...) with @client (a
        Gio.SocketClient, or None for a default one) and makes a channel of
        @channel_type (Achat.Channel or a subclass; when None, the class it
        is called on: `MyChannel.connect_to(address)` makes a MyChannel)
        over the connection (Achat.Channel.connect_async(), started now): an
        awaitable returning the channel, or raising the GLib.Error of the
        connect."""
        call = _Connect()
        call.start(connectable, client,
                   cls.__gtype__ if channel_type is None else channel_type)
        return call

    async def messages(self):
        """An asynchronous iterator over the messages, until the clean end
        of the stream; raises the GLib.Error of any other end."""
        while (message := await self.read_message()) is not None:
            yield message


Channel = override(Channel)
__all__.append('Channel')
