// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Limits and flow control from GJS: max-input-size and its error, the
// idle timeout property, message-timeout against a trickling peer, pausing
// input from a handler, and the output watermarks with a
// vfunc_output_drained override refilling the queue.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';

import Achat from 'gi://Achat?version=1.0';

import {Recorder, assert, assertEqual, channelPair, feed, spin, text} from './common.js';
import {test, run} from './tap.js';

test('max-input-size: a longer message closes with ACHAT_ERROR_INPUT_LIMIT naming the limit', t => {
    const {channel, peer} = channelPair(t, {terminator: '\n'});
    const recorder = new Recorder(channel);
    assertEqual(channel.get_max_input_size(), Achat.CHANNEL_DEFAULT_MAX_INPUT_SIZE);
    channel.max_input_size = 8;
    peer.write('short\nmuch too long\n');
    recorder.waitClosed();
    assertEqual(recorder.messages.map(text), ['short']);
    assert(recorder.error.matches(Achat.error_quark(), Achat.Error.INPUT_LIMIT),
        `closed with ${recorder.error}`);
    assert(recorder.error.message.includes('8 bytes'), recorder.error.message);
});

test('idle-timeout is a property in seconds', t => {
    const {channel} = channelPair(t);
    assertEqual(channel.idle_timeout, 0);
    channel.set_idle_timeout(30);
    assertEqual(channel.get_idle_timeout(), 30);
});

test('message-timeout closes a peer that trickles a message, which idle-timeout does not', t => {
    const {channel, peer} = channelPair(t, {terminator: '\n'});
    const recorder = new Recorder(channel);
    assertEqual(channel.message_timeout, 0);
    channel.idle_timeout = 1;
    channel.set_message_timeout(1);
    assertEqual(channel.get_message_timeout(), 1);
    peer.write('GET');
    const tick = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 200, () => {
        peer.write('x');
        return GLib.SOURCE_CONTINUE;
    });
    try {
        recorder.waitClosed(5000);
    } finally {
        GLib.source_remove(tick);
    }
    assert(recorder.error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.TIMED_OUT),
        `closed with ${recorder.error}`);
    assert(recorder.error.message.includes('message-timeout'), recorder.error.message);
});

test('pause_input() from a handler holds the rest of the read until resume', t => {
    const {channel, peer} = channelPair(t, {terminator: '\n'});
    const recorder = new Recorder(channel);
    channel.connect('terminator-found', (ch, message) => {
        if (text(message) === 'a')
            ch.pause_input();
    });
    feed(channel, peer, 'a\nb\nc\n');
    spin(100);
    assertEqual(recorder.logText, 'T(a)');
    assert(channel.input_paused, 'input-paused');
    channel.resume_input();
    recorder.waitMessages(3);
    assertEqual(recorder.logText, 'T(a) T(b) T(c)');
});

const Streamer = GObject.registerClass(class Streamer extends Achat.Channel {
    _init(params) {
        super._init(params);
        this.drained = 0;
        this.sent = 0;
    }

    fill() {
        while (!this.is_output_full() && this.sent < 4 * 1024 * 1024) {
            this.push(new Uint8Array(64 * 1024));
            this.sent += 64 * 1024;
        }
    }

    vfunc_output_drained() {
        this.drained++;
        this.fill();
    }
});

test('output watermarks: vfunc_output_drained refills until everything is sent', t => {
    const {channel, peer} = channelPair(t, {type: Streamer});
    channel.set_output_watermarks(16 * 1024, 128 * 1024);
    assertEqual(channel.output_high_watermark, 128 * 1024);
    channel.fill();
    assert(channel.output_full, 'output-full after filling');
    assert(channel.queued_bytes >= 128 * 1024, `queued-bytes ${channel.queued_bytes}`);
    peer.waitReceived(4 * 1024 * 1024, 20000);
    assert(channel.drained > 2, `output-drained ${channel.drained} times`);
});

run();
