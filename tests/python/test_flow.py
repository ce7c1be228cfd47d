# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Limits and flow control from Python: max-input-size and its error,
message-timeout against a trickling peer, pausing input, the output watermarks and output-drained, an overridden
do_output_drained."""

import taptest
from achattest import (Achat, ChannelTestCase, Gio, GLib, Recorder, iterate, iterate_until,
                       receive, send)


class InputLimitTest(ChannelTestCase):

    def test_default_and_error(self):
        channel, recorder, peer = self.line_channel(data_collected=False)
        self.assertEqual(channel.get_max_input_size(), Achat.CHANNEL_DEFAULT_MAX_INPUT_SIZE)
        channel.props.max_input_size = 8
        send(peer, b'short\nmuch too long\n')
        iterate_until(recorder.is_closed, 'the channel to close')
        self.assertEqual(recorder.messages(), [b'short'])
        error = recorder.close_error()
        self.assertIsInstance(error, GLib.Error)
        self.assertTrue(error.matches(Achat.error_quark(), Achat.Error.INPUT_LIMIT), error.message)
        self.assertIn('8 bytes', error.message)


class MessageTimeoutTest(ChannelTestCase):

    def test_trickled_message_times_out(self):
        """message-timeout closes a peer that sends a message a byte at
        a time (every byte would keep idle-timeout from firing)."""
        channel, recorder, peer = self.line_channel(data_collected=False)
        channel.props.idle_timeout = 1
        channel.props.message_timeout = 1
        self.assertEqual(channel.get_message_timeout(), 1)
        send(peer, b'GET')

        def trickle():
            send(peer, b'x')
            return GLib.SOURCE_CONTINUE

        tick = GLib.timeout_add(200, trickle)
        try:
            iterate_until(recorder.is_closed, 'the channel to time out', timeout=5)
        finally:
            GLib.source_remove(tick)
        error = recorder.close_error()
        self.assertIsInstance(error, GLib.Error)
        self.assertTrue(error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT),
                        error.message)
        self.assertIn('message-timeout', error.message)


class PauseTest(ChannelTestCase):

    def test_pause_in_handler_then_resume(self):
        channel, recorder, peer = self.line_channel(data_collected=False)
        channel.connect('terminator-found',
                        lambda channel, message: channel.pause_input() if message.get_data() == b'a' else None)
        self.feed(channel, peer, [b'a\nb\nc\n'])
        iterate(20)
        self.assertEqual(recorder.messages(), [b'a'])
        self.assertTrue(channel.props.input_paused)
        channel.props.input_paused = False
        iterate_until(lambda: len(recorder.messages()) == 3, 'the held messages')
        self.assertEqual(recorder.messages(), [b'a', b'b', b'c'])


class WatermarkTest(ChannelTestCase):

    def test_drained_override_refills(self):
        class Streamer(Achat.Channel):
            def __init__(self, **properties):
                super().__init__(**properties)
                self.drained = 0
                self.sent = 0

            def fill(self):
                while not self.is_output_full() and self.sent < 4 * 1024 * 1024:
                    self.push(bytes(64 * 1024))
                    self.sent += 64 * 1024

            def do_output_drained(self):
                self.drained += 1
                self.fill()

        gsocket, peer = self.socket_pair()
        channel = Streamer(socket=gsocket)
        channel.set_output_watermarks(16 * 1024, 128 * 1024)
        self.assertEqual(channel.props.output_high_watermark, 128 * 1024)
        channel.fill()
        self.assertTrue(channel.props.output_full)
        self.assertGreaterEqual(channel.props.queued_bytes, 128 * 1024)
        got = receive(peer, 4 * 1024 * 1024)
        self.assertEqual(len(got), 4 * 1024 * 1024)
        self.assertGreater(channel.drained, 2)
        channel.close()


if __name__ == '__main__':
    taptest.main()
