// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Output from GJS: push, push_bytes, producers (Achat.SimpleProducer and
// producers written in JS), close_when_done, discard_buffers, close, and
// the output rows O3-O15 of docs/behaviour.md.

import Gio from 'gi://Gio';
import GLib from 'gi://GLib';
import GObject from 'gi://GObject';

import Achat from 'gi://Achat?version=1.0';

import {
    assert, assertBytes, assertEqual, assertError, assertThrows, channelPair, concat,
    feed, flush, pattern, spin, text, u8, waitFor,
} from './common.js';
import {test, run} from './tap.js';

/**
 * A producer written in JS: hands out the given chunks (as GLib.Bytes),
 * then null. Records each call.
 */
const ListProducer = GObject.registerClass({
    Implements: [Achat.Producer],
}, class ListProducer extends GObject.Object {
    constructor(chunks, {onMore = null} = {}) {
        super();
        this.chunks = chunks.map(c => (c instanceof GLib.Bytes ? c : new GLib.Bytes(u8(c))));
        this.calls = 0;
        this.onMore = onMore;
    }

    vfunc_more() {
        this.calls++;
        this.onMore?.(this);
        return this.chunks.shift() ?? null;
    }
});

/** Streams `total` bytes of pattern(total, seed) in chunks of `chunk`. */
const PatternProducer = GObject.registerClass({
    Implements: [Achat.Producer],
}, class PatternProducer extends GObject.Object {
    constructor(total, chunk, seed) {
        super();
        this.data = pattern(total, seed);
        this.chunk = chunk;
        this.offset = 0;
        this.calls = 0;
    }

    vfunc_more() {
        this.calls++;
        if (this.offset >= this.data.length)
            return null;
        const piece = this.data.slice(this.offset, this.offset + this.chunk);
        this.offset += piece.length;
        return new GLib.Bytes(piece);
    }
});

/* Pushing ------------------------------------------------------------------- */

test('push: Uint8Array, TextEncoder output, arrays of numbers, in FIFO order', t => {
    const {channel, peer} = channelPair(t);
    assertEqual(channel.push(new Uint8Array([0x61, 0x62])), true, 'push(Uint8Array)');
    assertEqual(channel.push(new TextEncoder().encode('cdé')), true, 'push(TextEncoder output)');
    assertEqual(channel.push([0x00, 0xff]), true, 'push(array of numbers)');
    assertEqual(channel.get_queued_bytes(), 8, 'queued before the main loop runs');
    assertEqual(channel.get_bytes_sent(), 0, 'nothing written before the main loop runs');

    peer.waitReceived(8);
    assertBytes(peer.received, concat([u8('abcdé'), new Uint8Array([0, 255])]));
    assertEqual(channel.get_bytes_sent(), 8);
    assertEqual(channel.get_queued_bytes(), 0);
});

test('queued-bytes: pushes from a handler notified once, after the write; output-full at once', t => {
    const {channel, peer} = channelPair(t, {terminator: '\n'});
    const values = [], fullInHandler = [];
    channel.set_output_watermarks(1, 2);
    channel.connect('notify::queued-bytes', ch => values.push(ch.get_queued_bytes()));
    channel.connect('terminator-found', ch => {
        for (const piece of ['a', 'b', 'c\n'])
            ch.push(u8(piece));
        fullInHandler.push(ch.is_output_full());
    });
    peer.write('go\n');
    peer.waitReceived(4);
    assertBytes(peer.received, u8('abc\n'));
    flush(10);
    assertEqual(JSON.stringify(fullInHandler), '[true]', 'output-full in the handler');
    assertEqual(JSON.stringify(values), '[0]', 'queued-bytes notifications');
    assertEqual(channel.is_output_full(), false);
});

test('push with a string: GJS sends its UTF-8 bytes', t => {
    const {channel, peer} = channelPair(t);
    assertEqual(channel.push('héllo'), true);
    peer.waitReceived(6);
    assertBytes(peer.received, u8('héllo'));
});

test('push_text and message_dup_text: text both ways, and what is not text', t => {
    const {channel, peer} = channelPair(t);
    assertEqual(channel.push_text('héllo €\n'), true);
    peer.waitReceived(11);
    assertBytes(peer.received, u8('héllo €\n'));
    assertEqual(Achat.message_dup_text(new GLib.Bytes(u8('café'))), 'café');
    assertEqual(Achat.message_dup_text(new GLib.Bytes(new Uint8Array(0))), '');
    let error = null;
    try {
        Achat.message_dup_text(new GLib.Bytes(new Uint8Array([0x61, 0x00, 0x62])));
    } catch (e) {
        error = e;
    }
    assertError(error, Gio.IOErrorEnum, Gio.IOErrorEnum.INVALID_DATA, 'a NUL byte');
    assert(error.message.includes('a NUL byte at byte 1 of 3'), error.message);
});

test('push_bytes: GLib.Bytes, slices, and 1 MiB arriving intact', t => {
    const {channel, peer} = channelPair(t);
    const big = pattern(1 << 20, 7);
    const whole = new GLib.Bytes(big);
    assertEqual(channel.push_bytes(new GLib.Bytes(u8('head:'))), true);
    assertEqual(channel.push_bytes(whole), true);
    assertEqual(channel.push_bytes(whole.new_from_bytes(0, 10)), true, 'a slice');
    assertEqual(channel.get_queued_bytes(), 5 + big.length + 10);

    peer.waitReceived(5 + big.length + 10, 10000);
    assertBytes(peer.received, concat([u8('head:'), big, big.subarray(0, 10)]));
    assertEqual(channel.get_bytes_sent(), 5 + big.length + 10);
    assertEqual(channel.bytes_sent, 5 + big.length + 10, 'bytes-sent property');
});

test('push_bytes with a Uint8Array: GJS makes the GLib.Bytes', t => {
    const {channel, peer} = channelPair(t);
    assertEqual(channel.push_bytes(u8('converted')), true);
    peer.waitReceived(9);
    assertEqual(text(peer.received), 'converted');
});

test('O4: an empty push sends nothing and succeeds', t => {
    const {channel, peer} = channelPair(t);
    assertEqual(channel.push(new Uint8Array()), true, 'push(empty)');
    assertEqual(channel.push(null), true, 'push(null)');
    assertEqual(channel.push_bytes(new GLib.Bytes(new Uint8Array())), true, 'push_bytes(empty)');
    assertEqual(channel.get_queued_bytes(), 0);
    peer.startReading();
    spin(30);
    assertEqual(peer.receivedLength, 0);
    assertEqual(channel.get_bytes_sent(), 0);
    channel.push(u8('x'));
    peer.waitReceived(1);
    assertEqual(text(peer.received), 'x');
});

test('O3: push and friends with wrong argument types throw; the channel still works', t => {
    const {channel, peer} = channelPair(t);
    assertThrows(() => channel.push(42), /guint8/);
    assertThrows(() => channel.push({}), /guint8/);
    assertThrows(() => channel.push(new GLib.Bytes(u8('x'))), /guint8/);
    assertThrows(() => channel.push(), /argument/i);
    assertThrows(() => channel.push_bytes(null), /may not be null/);
    assertThrows(() => channel.push_bytes(42), /GBytes|Bytes/);
    assertThrows(() => channel.push_bytes('text'), /GBytes|Bytes/);
    assertThrows(() => channel.push_with_producer(null), /may not be null/);
    assertThrows(() => channel.push_with_producer(new GObject.Object()), /AchatProducer/);
    assertThrows(() => channel.push_with_producer(new GLib.Bytes(u8('x'))), /AchatProducer|object|type/i);
    assertThrows(() => channel.push_with_producer(u8('raw bytes (O8)')), /AchatProducer|object|type/i);
    assertEqual(channel.get_queued_bytes(), 0, 'nothing queued by failed calls');

    channel.push(u8('fine'));
    peer.waitReceived(4);
    assertEqual(text(peer.received), 'fine');
});

test('pushes from a terminator-found handler are replies, in order', t => {
    const {channel, peer} = channelPair(t, {terminator: '\n'});
    channel.connect('terminator-found', (ch, line) => {
        ch.push(u8('re: '));
        ch.push_bytes(line);
        ch.push(u8('\n'));
    });
    feed(channel, peer, 'one\ntwo\nthree\n');
    peer.waitReceived(24);
    assertEqual(text(peer.received), 're: one\nre: two\nre: three\n');
});

/* Producers ----------------------------------------------------------------- */

test('O7: SimpleProducer in chunks of 5 between pushes', t => {
    const {channel, peer} = channelPair(t);
    const producer = Achat.SimpleProducer.new(new GLib.Bytes(u8('hello world!')), 5);
    channel.push(u8('<'));
    assertEqual(channel.push_with_producer(producer), true);
    channel.push(u8('>'));
    peer.waitReceived(14);
    assertEqual(text(peer.received), '<hello world!>');
    assertEqual(producer.get_remaining(), 0, 'exhausted');
});

test('a JS producer: GLib.Bytes from vfunc_more() until null, in FIFO order', t => {
    const {channel, peer} = channelPair(t);
    const producer = new ListProducer(['alpha ', 'beta ', 'gamma']);
    channel.push(u8('['));
    assertEqual(channel.push_with_producer(producer), true);
    channel.push(u8(']'));
    assertEqual(producer.calls, 0, 'more() is not called by push_with_producer()');

    peer.waitReceived(18);
    assertEqual(text(peer.received), '[alpha beta gamma]');
    assertEqual(producer.calls, 4, 'three chunks and the null');
    spin(20);
    assertEqual(producer.calls, 4, 'not called once exhausted');
});

test('O11: a JS producer returning an empty GLib.Bytes is done; the next push is sent', t => {
    const {channel, peer} = channelPair(t);
    const producer = new ListProducer(['a', new GLib.Bytes(new Uint8Array()), 'never sent']);
    channel.push_with_producer(producer);
    channel.push(u8('Z'));
    peer.waitReceived(2);
    spin(20);
    assertEqual(text(peer.received), 'aZ');
    assertEqual(producer.calls, 2);
});

test('a JS producer may return a Uint8Array (GJS makes the GLib.Bytes)', t => {
    const {channel, peer} = channelPair(t);
    const Producer = GObject.registerClass({
        Implements: [Achat.Producer],
    }, class U8Producer extends GObject.Object {
        constructor() {
            super();
            this.left = ['x', 'y'];
        }

        vfunc_more() {
            const next = this.left.shift();
            return next ? u8(next) : null;
        }
    });
    channel.push_with_producer(new Producer());
    peer.waitReceived(2);
    assertEqual(text(peer.received), 'xy');
});

test('a JS producer streams 512 KiB in 8 KiB chunks intact', t => {
    const {channel, peer} = channelPair(t);
    const producer = new PatternProducer(512 * 1024, 8 * 1024, 3);
    channel.push_with_producer(producer);
    channel.push(u8('END'));
    peer.waitReceived(512 * 1024 + 3, 10000);
    assertBytes(peer.received, concat([pattern(512 * 1024, 3), u8('END')]));
    assertEqual(producer.calls, 65);
});

test('a JS producer that throws is logged and treated as exhausted', t => {
    t.expectLog('Gjs', /JS ERROR: Error: producer failure/);
    const {channel, peer} = channelPair(t);
    const producer = new ListProducer(['before '], {
        onMore: p => {
            if (p.calls === 2)
                throw new Error('producer failure');
        },
    });
    channel.push_with_producer(producer);
    channel.push(u8('after'));
    peer.waitReceived(12);
    assertEqual(text(peer.received), 'before after');
    assert(!channel.is_closed(), 'the channel is still open');
});

test('a JS producer returning a wrong type is logged and treated as exhausted', t => {
    t.expectLog('Gjs', /JS ERROR/);
    const {channel, peer} = channelPair(t);
    const Producer = GObject.registerClass({
        Implements: [Achat.Producer],
    }, class WrongProducer extends GObject.Object {
        vfunc_more() {
            return 42;
        }
    });
    channel.push_with_producer(new Producer());
    channel.push(u8('next'));
    peer.waitReceived(4);
    assertEqual(text(peer.received), 'next');
});

test('more() may push (after the producer) and may close the channel', t => {
    const {channel, peer, recorder} = channelPair(t);
    const producer = new ListProducer(['p1 ', 'p2 '], {
        onMore: p => {
            if (p.calls === 1)
                channel.push(u8('pushed-in-more '));
        },
    });
    channel.push_with_producer(producer);
    peer.waitReceived(21);
    assertEqual(text(peer.received), 'p1 p2 pushed-in-more ');
    assert(!recorder.closed);

    const closer = new ListProducer(['never'], {onMore: () => channel.close()});
    channel.push_with_producer(closer);
    recorder.waitClosed();
    recorder.assertClosedOnce();
    peer.waitEof();
    assertEqual(text(peer.received), 'p1 p2 pushed-in-more ', 'nothing from the closing producer');
});

/* Closing ------------------------------------------------------------------- */

test('O10: push then close_when_done(): written, then closed without error', t => {
    const {channel, peer, recorder} = channelPair(t);
    const big = pattern(300000, 5);
    channel.push(u8('last words'));
    channel.push_bytes(new GLib.Bytes(big));
    channel.push_with_producer(Achat.SimpleProducer.new(new GLib.Bytes(u8('!')), 0));
    channel.close_when_done();
    assertEqual(channel.is_closing(), true, 'is_closing() right away');
    assertEqual(channel.is_closed(), false, 'not closed before the output is written');

    peer.waitEof(10000);
    assertBytes(peer.received, concat([u8('last words'), big, u8('!')]));
    recorder.waitClosed();
    recorder.assertClosedOnce();
    assertEqual(recorder.error, null);
    channel.close_when_done();   // again: nothing
    channel.close();
    assertEqual(recorder.closedCount, 1);
});

test('O9: pushes after close_when_done() are refused with a warning and never sent', t => {
    t.expectLog('Achat', /^AchatChannel: achat_channel_push\(\) of 1 bytes refused: the channel is closing/);
    t.expectLog('Achat', /^AchatChannel: achat_channel_push_bytes\(\) of 2 bytes refused: the channel is closing/);
    t.expectLog('Achat', /^AchatChannel: achat_channel_push_with_producer\(\) of 0 bytes refused: the channel is closing/);
    const {channel, peer, recorder} = channelPair(t);
    channel.push(u8('a'));
    channel.close_when_done();
    assertEqual(channel.push(u8('b')), false, 'push');
    assertEqual(channel.push_bytes(new GLib.Bytes(u8('bb'))), false, 'push_bytes');
    assertEqual(channel.push_with_producer(new ListProducer(['bbb'])), false, 'push_with_producer');
    peer.waitEof();
    assertEqual(text(peer.received), 'a');
    recorder.waitClosed();
    assertEqual(recorder.error, null);
});

test('pushes to a closed channel are refused with a warning', t => {
    t.expectLog('Achat', /achat_channel_push\(\) of 3 bytes refused: the channel is closed/);
    t.expectLog('Achat', /achat_channel_push_bytes\(\) of 3 bytes refused: the channel is closed/);
    const {channel} = channelPair(t);
    channel.close();
    assertEqual(channel.is_closing(), true);
    assertEqual(channel.push(u8('abc')), false);
    assertEqual(channel.push_bytes(new GLib.Bytes(u8('abc'))), false);
});

test('O15: close() drops queued output', t => {
    const {channel, peer, recorder} = channelPair(t);
    channel.push(u8('dropped'));
    channel.push_with_producer(new ListProducer(['dropped too']));
    channel.close();
    assertEqual(recorder.closedCount, 1, 'closed emitted before close() returns');
    assertEqual(channel.get_queued_bytes(), 0);
    peer.waitEof();
    assertEqual(peer.receivedLength, 0);
});

test('O12: discard_buffers() empties a 10 MiB queue; the channel stays usable', t => {
    const {channel, peer, recorder} = channelPair(t);
    const producer = new ListProducer(['never']);
    channel.push_bytes(new GLib.Bytes(new Uint8Array(10 << 20)));
    channel.push_with_producer(producer);
    assertEqual(channel.get_queued_bytes(), 10 << 20);
    channel.discard_buffers();
    assertEqual(channel.get_queued_bytes(), 0, 'queue empty');
    channel.push(u8('after'));
    peer.waitReceived(5);
    spin(20);
    assertEqual(text(peer.received), 'after');
    assertEqual(producer.calls, 0, 'the discarded producer was never asked');
    assert(!recorder.closed, 'still open');
});

test('discard_buffers() drops the message collected so far', t => {
    const {channel, peer, recorder} = channelPair(t, {terminator: '\n'});
    feed(channel, peer, 'partial');
    assertEqual(text(channel.get_collected()), 'partial');
    channel.discard_buffers();
    assertEqual(channel.get_collected().get_size(), 0);
    feed(channel, peer, 'fresh\n');
    assertEqual(recorder.logText, 'T(fresh)');
});

test('discard_buffers() after close_when_done() closes at once', t => {
    const {channel, peer, recorder} = channelPair(t);
    channel.push_bytes(new GLib.Bytes(new Uint8Array(4 << 20)));
    channel.close_when_done();
    channel.discard_buffers();
    recorder.waitClosed();
    recorder.assertClosedOnce();
    assertEqual(recorder.error, null);
    peer.waitEof();
    assertEqual(peer.receivedLength, 0, 'the discarded output was not written');
});

test('the peer closes its write side with output queued: written, then closed', t => {
    const {channel, peer, recorder} = channelPair(t, {terminator: '\n'});
    const big = pattern(2 << 20, 9);
    channel.connect('terminator-found', ch => ch.push_bytes(new GLib.Bytes(big)));
    peer.write('send me a lot\n');
    peer.shutdownWrite();
    peer.waitEof(10000);
    assertBytes(peer.received, big);
    recorder.waitClosed();
    recorder.assertClosedOnce();
    assertEqual(recorder.error, null);
    assertEqual(recorder.logText, 'T(send me a lot) closed');
});

test('output pushed outside the main loop goes out on the next iteration', t => {
    const {channel, peer} = channelPair(t);
    channel.push(u8('a'));
    channel.push(u8('b'));
    assertEqual(channel.get_bytes_sent(), 0);
    flush(5);
    waitFor(() => channel.get_bytes_sent() === 2, 'the write');
    peer.waitReceived(2);
    assertEqual(text(peer.received), 'ab');
});

run();
