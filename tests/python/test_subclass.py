# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Subclassing Achat.Channel in Python: the signal class closures
(do_data_collected, do_terminator_found, do_closed), with and without
chaining up, and the readable/writable virtual functions, consulted on every
main loop iteration as in asyncore."""

import taptest
from achattest import (Achat, ChannelTestCase, Recorder, iterate, iterate_until,
                       nothing_to_receive, receive, send)


class LineChannel(Achat.Channel):
    """Sets its terminator in __init__ and records its input through the
    class closures."""

    def __init__(self, **properties):
        super().__init__(**properties)
        self.set_terminator(b'\n')
        self.events = []

    def do_terminator_found(self, message):
        self.events.append(('T', message.get_data()))

    def do_closed(self, error):
        self.events.append(('closed', error))


class ChainingChannel(LineChannel):
    def do_data_collected(self, data):
        self.events.append(('c', data.get_data()))
        Achat.Channel.do_data_collected(self, data)


class OwnBufferChannel(LineChannel):
    """Keeps its own buffer instead of chaining up."""

    def __init__(self, **properties):
        super().__init__(**properties)
        self.buffer = bytearray()

    def do_data_collected(self, data):
        self.buffer += data.get_data()

    def do_terminator_found(self, message):
        self.events.append(('T', message.get_data(), bytes(self.buffer)))
        self.buffer.clear()


class GatedChannel(Achat.Channel):
    """Reads and writes only when allowed, counting how often it was
    asked. The state is in class attributes: readable() and writable() may
    be asked before __init__ sets instance attributes."""

    may_read = False
    may_write = False
    readable_calls = 0
    writable_calls = 0

    def do_readable(self):
        self.readable_calls += 1
        return self.may_read

    def do_writable(self):
        self.writable_calls += 1
        return self.may_write and Achat.Channel.do_writable(self)


class ReadinessInitOrderChannel(Achat.Channel):
    """Counts the readiness questions asked before its __init__ is done."""

    initialised = False
    calls_before_init = 0
    calls_after_init = 0

    def __init__(self, **properties):
        super().__init__(**properties)
        self.initialised = True

    def count_call(self):
        if self.initialised:
            self.calls_after_init += 1
        else:
            self.calls_before_init += 1

    def do_readable(self):
        self.count_call()
        return True

    def do_writable(self):
        self.count_call()
        return Achat.Channel.do_writable(self)


class ClassClosureTest(ChannelTestCase):

    def test_init_runs_with_keyword_arguments(self):
        gsocket, _ = self.socket_pair()
        channel = LineChannel(socket=gsocket)
        self.assertIs(channel.get_socket(), gsocket)
        self.assertEqual(channel.get_terminator(), b'\n')
        self.assertEqual(channel.events, [])

    def test_do_terminator_found_and_do_closed(self):
        gsocket, peer = self.socket_pair()
        channel = LineChannel(socket=gsocket)
        self.feed(channel, peer, [b'one\ntw', b'o\n'])
        peer.close()
        iterate_until(channel.is_closed, 'the channel to close')
        self.assertEqual(channel.events, [('T', b'one'), ('T', b'two'), ('closed', None)])

    def test_do_data_collected_chaining_up(self):
        gsocket, peer = self.socket_pair()
        channel = ChainingChannel(socket=gsocket)
        self.feed(channel, peer, [b'ab', b'c\nd', b'e\n'])
        self.assertEqual(channel.events,
                         [('c', b'ab'), ('c', b'c'), ('T', b'abc'),
                          ('c', b'd'), ('c', b'e'), ('T', b'de')])

    def test_do_data_collected_without_chaining_up(self):
        gsocket, peer = self.socket_pair()
        channel = OwnBufferChannel(socket=gsocket)
        self.feed(channel, peer, [b'ab', b'c\nd', b'e\n'])
        # The default handler did not run: the messages are empty and the
        # subclass has the data.
        self.assertEqual(channel.events, [('T', b'', b'abc'), ('T', b'', b'de')])
        self.assertEqual(channel.get_collected().get_data(), b'')

    def test_handlers_run_before_class_closure(self):
        gsocket, peer = self.socket_pair()
        channel = ChainingChannel(socket=gsocket)
        channel.connect('data-collected', lambda channel, data:
                        channel.events.append(('handler c', data.get_data())))
        channel.connect('terminator-found', lambda channel, message:
                        channel.events.append(('handler T', message.get_data())))
        self.feed(channel, peer, [b'x\n'])
        self.assertEqual(channel.events,
                         [('handler c', b'x'), ('c', b'x'), ('handler T', b'x'), ('T', b'x')])

    def test_stop_emission_keeps_data_out_of_message(self):
        channel, recorder, peer = self.line_channel()

        def drop_secret(channel, data):
            if data.get_data() == b'secret':
                channel.stop_emission_by_name('data-collected')

        channel.connect('data-collected', drop_secret)
        self.feed(channel, peer, [b'pub', b'secret', b'lic\n'])
        self.assertEqual(recorder.messages(), [b'public'])

    def test_default_readiness_from_python(self):
        gsocket, _ = self.socket_pair()
        channel = GatedChannel(socket=gsocket)
        # The class closures of Achat.Channel itself: readable while open,
        # writable only with output queued.
        self.assertTrue(Achat.Channel.do_readable(channel))
        self.assertFalse(Achat.Channel.do_writable(channel))
        channel.push(b'queued')
        self.assertTrue(Achat.Channel.do_writable(channel))


class ReadinessTest(ChannelTestCase):

    def gated_channel(self):
        gsocket, peer = self.socket_pair()
        channel = GatedChannel(socket=gsocket)
        channel.set_terminator(b'\n')
        return channel, Recorder(channel), peer

    def test_readable_consulted_every_iteration(self):
        channel, recorder, peer = self.gated_channel()
        send(peer, b'held\n')
        calls = channel.readable_calls
        iterate(25)
        self.assertEqual(recorder.events, [], 'nothing read while readable() is False')
        self.assertGreaterEqual(channel.readable_calls - calls, 25)
        channel.may_read = True
        iterate_until(lambda: recorder.messages(), 'the message once readable')
        self.assertEqual(recorder.messages(), [b'held'])

    def test_readiness_not_consulted_before_init_returns(self):
        # As in asyncore, readable() and writable() are main loop
        # questions: a Python subclass must not be asked them from inside
        # super().__init__(), before its own __init__ has run.
        gsocket, _ = self.socket_pair()
        channel = ReadinessInitOrderChannel(socket=gsocket)
        self.assertEqual(channel.calls_before_init, 0)
        iterate(5)
        self.assertGreaterEqual(channel.calls_after_init, 5)

    def test_not_readable_ignores_hang_up(self):
        channel, recorder, peer = self.gated_channel()
        send(peer, b'last\n')
        peer.close()
        iterate(25)
        self.assertEqual(recorder.events, [])
        self.assertFalse(channel.is_closed())
        channel.may_read = True
        iterate_until(recorder.is_closed, 'the channel to close once readable')
        self.assertEqual(recorder.simple(), [('c', b'last'), ('T', b'last'), ('closed', None)])

    def test_writable_consulted_every_iteration(self):
        channel, _, peer = self.gated_channel()
        channel.push(b'waiting')
        calls = channel.writable_calls
        iterate(25)
        self.assertTrue(nothing_to_receive(peer), 'nothing written while writable() is False')
        self.assertEqual(channel.get_queued_bytes(), 7)
        self.assertGreaterEqual(channel.writable_calls - calls, 25)
        channel.may_write = True
        self.assertEqual(receive(peer, 7), b'waiting')
        iterate_until(lambda: channel.get_queued_bytes() == 0, 'the queue to empty')

    def test_not_writable_delays_close_when_done(self):
        channel, recorder, peer = self.gated_channel()
        channel.may_read = True
        channel.push(b'bye')
        channel.close_when_done()
        iterate(25)
        self.assertFalse(recorder.is_closed())
        channel.may_write = True
        self.assertEqual(receive(peer, 3), b'bye')
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertIsNone(recorder.close_error())


if __name__ == '__main__':
    taptest.main()
