// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Achat.find_prefix_at_end, the ACHAT_ERROR domain, the enums, and the
// producers called directly (no channel).

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';

import Achat from 'gi://Achat?version=1.0';

import {assert, assertEqual, assertThrows, assertBytes, channelPair, u8, text} from './common.js';
import {test, run} from './tap.js';

// The table of shared/reference/behaviour.md ("Helper").
const PREFIX_CASES = [
    ['qwerty\r', '\r\n', 1],
    ['qwertydkjf', '\r\n', 0],
    ['xqq', 'qqq', 2],
    ['qq', 'qqq', 2],
    ['q', 'qqq', 1],
    ['a', 'a', 0],
    ['abcab', 'abcabd', 5],
    ['xab', 'abcabd', 2],
    ['\r\n.\r', '\r\n.\r\n', 4],
    ['', '\r\n', 0],
    ['abc', '', 0],
];

test('the GJS module travels in the library: resource:///org/gnome/Achat/js/achat.js', async t => {
    // snippet-begin gjs-module-import
    // The module is inside libachat: import it once the library is loaded.
    GObject.type_ensure(Achat.Channel.$gtype);
    const {readMessage, messages} = await import('resource:///org/gnome/Achat/js/achat.js');
    // snippet-end gjs-module-import
    assertEqual(typeof readMessage, 'function', 'readMessage');
    assertEqual(typeof messages, 'function', 'messages');

    const {channel, peer} = channelPair(t, {terminator: '\n', record: false});
    peer.write('through the resource\n');
    assertEqual(text(await readMessage(channel)), 'through the resource');
});

test('find_prefix_at_end: every case of the reference table (Uint8Array from TextEncoder)', () => {
    const encoder = new TextEncoder();
    for (const [haystack, needle, expected] of PREFIX_CASES) {
        assertEqual(Achat.find_prefix_at_end(encoder.encode(haystack), encoder.encode(needle)),
            expected, `find_prefix_at_end(${JSON.stringify(haystack)}, ${JSON.stringify(needle)})`);
    }
});

test('find_prefix_at_end: plain Uint8Arrays, arrays of numbers, null for empty', () => {
    assertEqual(Achat.find_prefix_at_end(new Uint8Array([0x71, 0x0d]), new Uint8Array([0x0d, 0x0a])), 1);
    assertEqual(Achat.find_prefix_at_end([1, 2, 3], [2, 3, 4]), 2);
    assertEqual(Achat.find_prefix_at_end(null, u8('\r\n')), 0, 'null haystack');
    assertEqual(Achat.find_prefix_at_end(u8('abc\r'), null), 0, 'null needle');
    assertEqual(Achat.find_prefix_at_end(null, null), 0, 'both null');
    assertEqual(Achat.find_prefix_at_end(new Uint8Array(), new Uint8Array()), 0, 'both empty');
    // Bytes that are not UTF-8 are fine: the arguments are guint8 arrays.
    assertEqual(Achat.find_prefix_at_end(new Uint8Array([0xff, 0x00, 0xfe]), new Uint8Array([0x00, 0xfe, 0x01])), 2);
});

test('find_prefix_at_end: a long needle and haystack', () => {
    const needle = u8(`${'ab'.repeat(500)}X`);
    const haystack = u8(`${'z'.repeat(10000)}${'ab'.repeat(300)}`);
    assertEqual(Achat.find_prefix_at_end(haystack, needle), 600);
});

test('find_prefix_at_end: wrong argument types throw', () => {
    assertThrows(() => Achat.find_prefix_at_end(5, 6), /guint8|haystack/);
    assertThrows(() => Achat.find_prefix_at_end({}, u8('x')), /guint8|haystack/);
    assertThrows(() => Achat.find_prefix_at_end(u8('x'), new GLib.Bytes(u8('x'))), /guint8|needle/);
    assertThrows(() => Achat.find_prefix_at_end(u8('x')), /needle|argument/i);
    // GJS converts a string to its UTF-8 bytes for a guint8 array.
    assertEqual(Achat.find_prefix_at_end('qwerty\r', '\r\n'), 1, 'strings (converted by GJS)');
});

test('ACHAT_ERROR: quark and codes', () => {
    const quark = Achat.error_quark();
    assert(quark !== 0, 'error quark is 0');
    assertEqual(Achat.Error.quark(), quark, 'Achat.Error.quark()');
    assertEqual(GLib.quark_to_string(quark), 'achat-error-quark');
    assertEqual(Achat.Error.FAILED, 0, 'FAILED');
    assertEqual(typeof Achat.Error.NOT_POLLABLE, 'number', 'NOT_POLLABLE');
    assert(Achat.Error.NOT_POLLABLE !== Achat.Error.FAILED, 'codes are distinct');

    const error = new GLib.Error(Achat.Error, Achat.Error.NOT_POLLABLE, 'not pollable');
    assert(error.matches(quark, Achat.Error.NOT_POLLABLE), 'matches(quark, NOT_POLLABLE)');
    assert(error.matches(Achat.Error, Achat.Error.NOT_POLLABLE), 'matches(Achat.Error, NOT_POLLABLE)');
    assert(!error.matches(quark, Achat.Error.FAILED), 'does not match FAILED');
    assertEqual(error.message, 'not pollable');
});

test('enums and constants', () => {
    assertEqual([Achat.TerminatorKind.NONE, Achat.TerminatorKind.BYTES, Achat.TerminatorKind.COUNT], [0, 1, 2]);
    assertEqual(Achat.SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE, 512);
    assertEqual(typeof Achat.VERSION_S, 'string');
    assertEqual(Achat.VERSION_S, `${Achat.MAJOR_VERSION}.${Achat.MINOR_VERSION}.${Achat.MICRO_VERSION}`);
});

test('SimpleProducer: hello world! in chunks of 5 (O7), then null for good', () => {
    const producer = Achat.SimpleProducer.new(new GLib.Bytes(u8('hello world!')), 5);
    assert(producer instanceof Achat.Producer, 'a SimpleProducer is an Achat.Producer');
    assertEqual(producer.get_buffer_size(), 5);
    assertEqual(producer.buffer_size, 5, 'buffer-size property');
    assertEqual(producer.get_remaining(), 12);
    const chunks = [];
    for (let chunk; (chunk = producer.more()) !== null;) {
        assert(chunk instanceof GLib.Bytes, 'more() returns GLib.Bytes');
        chunks.push(text(chunk));
    }
    assertEqual(chunks, ['hello', ' worl', 'd!']);
    assertEqual(producer.get_remaining(), 0);
    assertEqual(producer.more(), null, 'more() after exhaustion');
    assertEqual(producer.data, null, 'data property once exhausted');
});

test('SimpleProducer: construct properties, default buffer size, empty data', () => {
    const data = new GLib.Bytes(u8('x'.repeat(1000)));
    const byProps = new Achat.SimpleProducer({data, buffer_size: 300});
    assertEqual(byProps.get_buffer_size(), 300);
    assertBytes(byProps.data, data.toArray(), 'data property');
    assertEqual(byProps.more().get_size(), 300);
    assertEqual(byProps.get_remaining(), 700);

    const byDefault = Achat.SimpleProducer.new(data, 0);
    assertEqual(byDefault.get_buffer_size(), Achat.SIMPLE_PRODUCER_DEFAULT_BUFFER_SIZE);
    assertEqual(new Achat.SimpleProducer({data}).get_buffer_size(), 512, 'buffer-size left unset');
    assertEqual(byDefault.more().get_size(), 512);
    assertEqual(byDefault.more().get_size(), 488);
    assertEqual(byDefault.more(), null);

    const empty = Achat.SimpleProducer.new(new GLib.Bytes(new Uint8Array()), 5);
    assertEqual(empty.get_remaining(), 0);
    assertEqual(empty.more(), null, 'an empty producer is exhausted at once');
});

test('SimpleProducer: chunks are the bytes given, at any buffer size', () => {
    const data = new Uint8Array(1000).map((_, i) => i % 251);
    for (const size of [1, 7, 999, 1000, 4096]) {
        const producer = Achat.SimpleProducer.new(new GLib.Bytes(data), size);
        const chunks = [];
        for (let chunk; (chunk = producer.more()) !== null;) {
            assert(chunk.get_size() <= size, `chunk of ${chunk.get_size()} > ${size}`);
            chunks.push(chunk.toArray());
        }
        assertBytes(Uint8Array.from(chunks.flatMap(c => [...c])), data, `buffer size ${size}`);
    }
});

test('SimpleProducer: wrong argument types throw', () => {
    assertThrows(() => Achat.SimpleProducer.new(null, 5), /may not be null/);
    assertThrows(() => Achat.SimpleProducer.new(42, 5), /GBytes|Bytes|expected/i);
    assertThrows(() => Achat.SimpleProducer.new(new GLib.Bytes(u8('x')), -1), /range|unsigned/i);
});

const CountingProducer = GObject.registerClass({
    Implements: [Achat.Producer],
}, class CountingProducer extends GObject.Object {
    constructor(chunks) {
        super();
        this.chunks = chunks.map(c => new GLib.Bytes(u8(c)));
        this.calls = 0;
    }

    vfunc_more() {
        this.calls++;
        return this.chunks.shift() ?? null;
    }
});

test('a JS producer (Implements: [Achat.Producer]) is called through Achat.Producer.more()', () => {
    const producer = new CountingProducer(['one', 'two']);
    assert(producer instanceof Achat.Producer, 'instanceof Achat.Producer');
    assert(GObject.type_is_a(CountingProducer.$gtype, Achat.Producer.$gtype), 'type_is_a');
    // more() is the C method, which calls the JS vfunc.
    assertEqual(text(producer.more()), 'one');
    assertEqual(text(Achat.Producer.prototype.more.call(producer)), 'two');
    assertEqual(producer.more(), null, 'vfunc_more returning null');
    assertEqual(producer.calls, 3);
});

run();
