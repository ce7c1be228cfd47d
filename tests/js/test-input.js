// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Terminators and framing from GJS: the getters and setters, the input rows
// I1-I16 of docs/behaviour.md (each with and without a data-collected
// handler, over a connection and over a bare socket), and GLib.Bytes kept
// by signal handlers after the emission.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {
    assert, assertBytes, assertEqual, assertThrows, channelPair, concat, feed,
    pattern, show, spin, text, u8, waitFor,
} from './common.js';
import {test, run} from './tap.js';

/* Getters and setters ---------------------------------------------------- */

test('set_terminator with a Uint8Array: kind BYTES, get_terminator() returns a copy', t => {
    const {channel} = channelPair(t);
    const terminator = new Uint8Array([0x0d, 0x0a]);
    channel.set_terminator(terminator);
    terminator[0] = 0x41;   // the channel copied it

    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES);
    const got = channel.get_terminator();
    assert(got instanceof Uint8Array, 'get_terminator() returns a Uint8Array');
    assertBytes(got, '\r\n');
    assertEqual(channel.get_terminator_count(), 0, 'count of a bytes terminator');

    got[0] = 0x42;   // nor does changing what it returned change it
    assertBytes(channel.get_terminator(), '\r\n');
});

test('set_terminator with TextEncoder output, an array of numbers, a string', t => {
    const {channel} = channelPair(t);
    channel.set_terminator(new TextEncoder().encode('\r\n.\r\n'));
    assertBytes(channel.get_terminator(), '\r\n.\r\n');
    channel.set_terminator([0, 255, 10]);
    assertBytes(channel.get_terminator(), new Uint8Array([0, 255, 10]));
    // GJS converts a string to its UTF-8 bytes.
    channel.set_terminator('é;');
    assertBytes(channel.get_terminator(), new Uint8Array([0xc3, 0xa9, 0x3b]));
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES);
});

test('no terminator: set_terminator(null), an empty one, set_terminator_none()', t => {
    const {channel} = channelPair(t);
    const assertNone = what => {
        assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.NONE, what);
        const terminator = channel.get_terminator();
        assert(terminator === null || terminator.length === 0, `${what}: get_terminator() is not empty`);
        assertEqual(channel.get_terminator_count(), 0, `${what}: count`);
    };
    assertNone('a new channel');
    for (const [what, clear] of [
        ['set_terminator(null)', () => channel.set_terminator(null)],
        ['set_terminator(new Uint8Array())', () => channel.set_terminator(new Uint8Array())],
        ['set_terminator(TextEncoder of "")', () => channel.set_terminator(new TextEncoder().encode(''))],
        ['set_terminator_none()', () => channel.set_terminator_none()],
    ]) {
        channel.set_terminator(u8('\n'));
        assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES);
        clear();
        assertNone(what);
    }
});

test('set_terminator_count: kind COUNT, get_terminator_count(), getters in between', t => {
    const {channel} = channelPair(t);
    channel.set_terminator_count(5);
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.COUNT);
    assertEqual(channel.get_terminator_count(), 5);
    const terminator = channel.get_terminator();
    assert(terminator === null || terminator.length === 0, 'no byte terminator with a count');

    // 2^53 - 1 is the largest count a JS number holds exactly.
    channel.set_terminator_count(Number.MAX_SAFE_INTEGER);
    assertEqual(channel.get_terminator_count(), Number.MAX_SAFE_INTEGER);

    channel.set_terminator_count(0);
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.COUNT, 'count 0');
    assertEqual(channel.get_terminator_count(), 0);

    channel.set_terminator(u8('\n'));
    assertEqual(channel.get_terminator_count(), 0, 'bytes after a count');
});

test('terminator setters with wrong argument types throw (I17: a negative count)', t => {
    const {channel} = channelPair(t, {terminator: '\n'});
    assertThrows(() => channel.set_terminator_count(-1), /out of range/);
    assertThrows(() => channel.set_terminator_count(2 ** 64), /out of range/);
    assertThrows(() => channel.set_terminator(42), /guint8/);
    assertThrows(() => channel.set_terminator({}), /guint8/);
    assertThrows(() => channel.set_terminator(new GLib.Bytes(u8('\n'))), /guint8/);
    assertThrows(() => channel.set_terminator_count(), /argument/i);
    // Nothing changed.
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES);
    assertBytes(channel.get_terminator(), '\n');
});

/* The input rows of behaviour.md -------------------------------------------- */

/**
 * Runs one row four ways: over a connection and a bare socket, with and
 * without a data-collected handler. Each read is fed on its own; `eof`
 * shuts the peer's write side afterwards. `expect(collect)` gives the log.
 */
function inputRow(t, {terminator = null, count = null, reads, eof = false, handler = null,
    expect, after = null}) {
    for (const over of ['stream', 'socket']) {
        for (const collect of [false, true]) {
            const where = `over a ${over}, ${collect ? 'with' : 'without'} a data-collected handler`;
            const {channel, peer, recorder} = channelPair(t, {over, terminator, collect});
            if (count !== null)
                channel.set_terminator_count(count);
            if (handler)
                channel.connect('terminator-found', handler);
            for (const read of reads)
                feed(channel, peer, read);
            if (eof) {
                peer.shutdownWrite();
                recorder.waitClosed();
                recorder.assertClosedOnce();
                assertEqual(recorder.error, null, `${where}: orderly close`);
            } else {
                spin(5);
            }
            assertEqual(recorder.logText, expect(collect), where);
            after?.({channel, peer, recorder, collect, where});
            channel.close();
            peer.close();
        }
    }
}

test('I1: \\r\\n; reads abc\\r, \\ndef\\r\\n', t => {
    inputRow(t, {
        terminator: '\r\n', reads: ['abc\r', '\ndef\r\n'],
        expect: c => c ? 'c(abc) T(abc) c(def) T(def)' : 'T(abc) T(def)',
    });
});

test('I2: \\r\\n; reads \\r, \\n: an empty message', t => {
    inputRow(t, {
        terminator: '\r\n', reads: ['\r', '\n'],
        expect: () => 'T()',
        after: ({recorder}) => assertEqual(recorder.messages[0].get_size(), 0),
    });
});

test('I3: qqq; five reads', t => {
    inputRow(t, {
        terminator: 'qqq', reads: ['ab', 'cq', 'q', 'qde', 'fqqq'],
        expect: c => c ? 'c(ab) c(c) T(abc) c(de) c(f) T(def)' : 'T(abc) T(def)',
    });
});

test('I4: a self-overlapping terminator aab; reads xaa, ab', t => {
    inputRow(t, {
        terminator: 'aab', reads: ['xaa', 'ab'],
        expect: c => c ? 'c(x) c(a) T(xa)' : 'T(xa)',
    });
});

test('I5: several frames in one read, an empty one among them', t => {
    inputRow(t, {
        terminator: '\n', reads: ['a\nb\n\nc'],
        expect: c => c ? 'c(a) T(a) c(b) T(b) T() c(c)' : 'T(a) T(b) T()',
        after: ({channel, where}) => assertEqual(text(channel.get_collected()), 'c', `${where}: collected`),
    });
});

test('I6: \\r\\n.\\r\\n split across three reads', t => {
    inputRow(t, {
        terminator: '\r\n.\r\n', reads: ['line1\r\nline2\r\n.', '\r', '\nnext'],
        expect: c => c ? 'c(line1\\r\\nline2) T(line1\\r\\nline2) c(next)' : 'T(line1\\r\\nline2)',
    });
});

test('I7: an empty terminator collects only', t => {
    inputRow(t, {
        terminator: new Uint8Array(), reads: ['abc', 'def'], eof: true,
        expect: c => c ? 'c(abc) c(def) closed' : 'closed',
        after: ({recorder}) => assertEqual(text(recorder.collectedAtClose), 'abcdef'),
    });
});

test('I8: no terminator collects only', t => {
    inputRow(t, {
        reads: ['abc', 'def'], eof: true,
        expect: c => c ? 'c(abc) c(def) closed' : 'closed',
        after: ({recorder}) => assertEqual(text(recorder.collectedAtClose), 'abcdef'),
    });
});

test('I9: count 5 across reads fires once, then the channel collects', t => {
    inputRow(t, {
        count: 5, reads: ['ab', 'cdefg', 'hi'],
        expect: c => c ? 'c(ab) c(cde) T(abcde) c(fg) c(hi)' : 'T(abcde)',
        after: ({channel, where}) => {
            assertEqual(channel.get_terminator_count(), 0, `${where}: count left`);
            assertEqual(text(channel.get_collected()), 'fghi', `${where}: collected`);
        },
    });
});

test('I10: count 0 behaves as none', t => {
    inputRow(t, {
        count: 0, reads: ['abc'],
        expect: c => c ? 'c(abc)' : '',
        after: ({channel}) => assertEqual(text(channel.get_collected()), 'abc'),
    });
});

test('I11: count 3 re-armed by the handler', t => {
    inputRow(t, {
        count: 3, reads: ['abcdefgh'],
        handler: ch => ch.set_terminator_count(3),
        expect: c => c ? 'c(abc) T(abc) c(def) T(def) c(gh)' : 'T(abc) T(def)',
        after: ({channel}) => assertEqual(channel.get_terminator_count(), 1, 'remaining'),
    });
});

test('I12: header line, counted body, line again, in one read', t => {
    inputRow(t, {
        terminator: '\r\n', reads: ['HDR\r\nBODYrest\r\n'],
        handler: ch => {
            if (ch.get_terminator_kind() === Achat.TerminatorKind.BYTES)
                ch.set_terminator_count(4);
            else
                ch.set_terminator(u8('\r\n'));
        },
        expect: c => c ? 'c(HDR) T(HDR) c(BODY) T(BODY) c(rest) T(rest)' : 'T(HDR) T(BODY) T(rest)',
    });
});

test('I13: close() in a handler stops delivery at once', t => {
    inputRow(t, {
        terminator: '\n', reads: ['a\nb\nc\n'],
        handler: ch => ch.close(),
        expect: c => c ? 'c(a) T(a) closed' : 'T(a) closed',
        after: ({recorder}) => {
            recorder.assertClosedOnce();
            assertEqual(recorder.error, null);
        },
    });
});

test('I14: discard_buffers() in a handler drops the rest of the read', t => {
    inputRow(t, {
        terminator: '\n', reads: ['a\nb\nc\n'],
        handler: (ch, message) => {
            if (text(message) === 'a')
                ch.discard_buffers();
        },
        expect: c => c ? 'c(a) T(a)' : 'T(a)',
        after: ({channel, peer, recorder, collect}) => {
            assert(!channel.is_closed(), 'still open');
            feed(channel, peer, 'd\n');
            assertEqual(recorder.logText, collect ? 'c(a) T(a) c(d) T(d)' : 'T(a) T(d)', 'usable afterwards');
        },
    });
});

test('I15: EOF after a partial message', t => {
    inputRow(t, {
        terminator: '\n', reads: ['abc'], eof: true,
        expect: c => c ? 'c(abc) closed' : 'closed',
        after: ({recorder}) => assertEqual(text(recorder.collectedAtClose), 'abc'),
    });
});

test('I16: EOF with a partial terminator held: every byte delivered', t => {
    inputRow(t, {
        terminator: '\r\n', reads: ['abc\r'], eof: true,
        expect: c => c ? 'c(abc) c(\\r) closed' : 'closed',
        after: ({recorder}) => assertEqual(show(recorder.collectedAtClose), 'abc\\r'),
    });
});

/* Fragmentation ------------------------------------------------------------ */

/** A deterministic generator of split points. */
function* splits(length, seed) {
    let state = seed;
    let pos = 0;
    while (pos < length) {
        state = (state * 1103515245 + 12345) % 2147483648;
        const n = Math.min(length - pos, 1 + state % 23);
        yield [pos, pos + n];
        pos += n;
    }
}

test('every split of a stream into reads gives the same messages', t => {
    const lines = ['', 'x', 'hello', '\r', 'a\rb', '\r\r\r', 'last one'];
    const stream = u8(`${lines.join('\r\n')}\r\n`);
    for (const seed of [1, 2, 3]) {
        for (const collect of [false, true]) {
            const {channel, peer, recorder} = channelPair(t, {terminator: '\r\n', collect});
            for (const [from, to] of splits(stream.length, seed))
                feed(channel, peer, stream.subarray(from, to));
            const where = `seed ${seed}, ${collect ? 'with' : 'without'} data-collected`;
            recorder.waitMessages(lines.length);
            assertEqual(recorder.messages.map(m => text(m)), lines, where);
            if (collect) {
                assertEqual(text(concat(recorder.collectedData.map(d => d.toArray()))),
                    lines.join(''), `${where}: data-collected pieces`);
            }
            channel.close();
            peer.close();
        }
    }
});

/* Keeping the GLib.Bytes ---------------------------------------------------- */

// Messages below and above the 4 KiB slice threshold, and one longer than
// the 64 KiB read buffer.
const KEEP_SIZES = [1, 10, 4095, 4096, 4097, 5000, 30000, 70000];

function keptMessagesCheck(t, collect) {
    const {channel, peer, recorder} = channelPair(t, {terminator: '\n', collect});
    const batch = seed => concat(KEEP_SIZES.flatMap((size, i) => [pattern(size, seed + i), u8('\n')]));

    peer.writeAsync(batch(0));
    recorder.waitMessages(KEEP_SIZES.length);
    // More traffic through the same read buffers, then a garbage collection.
    peer.writeAsync(batch(100));
    recorder.waitMessages(2 * KEEP_SIZES.length);
    System.gc();
    spin(10);

    KEEP_SIZES.forEach((size, i) => {
        const message = recorder.messages[i];
        assert(message instanceof GLib.Bytes, 'terminator-found carries a GLib.Bytes');
        assertEqual(message.get_size(), size, `message ${i} size`);
        assertBytes(message.toArray(), pattern(size, i), `message ${i} of ${size} bytes, toArray()`);
        assertBytes(message.get_data(), pattern(size, i), `message ${i} of ${size} bytes, get_data()`);
        assertBytes(recorder.messages[KEEP_SIZES.length + i].toArray(), pattern(size, 100 + i),
            `second batch, message ${i}`);
    });
    if (collect) {
        const all = concat(recorder.collectedData.map(d => d.toArray()));
        assertBytes(all, concat([...KEEP_SIZES.map((s, i) => pattern(s, i)),
            ...KEEP_SIZES.map((s, i) => pattern(s, 100 + i))]), 'kept data-collected pieces');
    }

    // Still right once the channel is closed and gone from the main loop.
    channel.close();
    peer.close();
    System.gc();
    spin(10);
    KEEP_SIZES.forEach((size, i) =>
        assertBytes(recorder.messages[i].toArray(), pattern(size, i), `after close, message ${i}`));
}

test('GLib.Bytes kept from terminator-found handlers stay valid (>= 4 KiB slices too)', t => {
    keptMessagesCheck(t, false);
});

test('GLib.Bytes kept from data-collected and terminator-found handlers stay valid', t => {
    keptMessagesCheck(t, true);
});

test('a Uint8Array from message.toArray() kept from a handler stays valid', t => {
    const {channel, peer} = channelPair(t, {terminator: '\n'});
    const kept = [];
    channel.connect('terminator-found', (_ch, message) => kept.push(message.toArray()));
    peer.writeAsync(concat([pattern(8000, 1), u8('\n'), pattern(8000, 2), u8('\n')]));
    waitFor(() => kept.length === 2);
    peer.writeAsync(concat([pattern(60000, 3), u8('\n')]));
    waitFor(() => kept.length === 3);
    System.gc();
    assertBytes(kept[0], pattern(8000, 1));
    assertBytes(kept[1], pattern(8000, 2));
    assertBytes(kept[2], pattern(60000, 3));
});

/* Handlers misbehaving ------------------------------------------------------ */

test('an exception in a handler is logged and the channel goes on', t => {
    t.expectLog('Gjs', /JS ERROR: Error: handler failure/);
    const {channel, peer, recorder} = channelPair(t, {terminator: '\n'});
    channel.connect('terminator-found', (_ch, message) => {
        if (text(message) === 'two')
            throw new Error('handler failure');
    });
    feed(channel, peer, 'one\ntwo\nthree\n');
    assertEqual(recorder.logText, 'T(one) T(two) T(three)');
    channel.push(u8('ok\n'));
    peer.waitReceived(3);
    assertEqual(text(peer.received), 'ok\n');
});

test('a handler may stop data-collected emission to keep data out of the message', t => {
    const {channel, peer, recorder} = channelPair(t, {terminator: '\n', collect: true});
    channel.connect('data-collected', (ch, data) => {
        if (text(data).startsWith('#'))
            GObject.signal_stop_emission_by_name(ch, 'data-collected');
    });
    feed(channel, peer, 'keep');
    feed(channel, peer, '#drop');
    feed(channel, peer, ' this\n');
    assertEqual(recorder.logText, 'c(keep) c(#drop) c( this) T(keep this)');
});

run();
