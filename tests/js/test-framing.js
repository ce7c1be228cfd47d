// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Framing from GJS: several terminators at once and
// get_matched_terminator(), length-prefixed frames (headers built with a
// DataView, their limits and errors, push_frame() read back by the peer, the
// asynchat idiom they replace), and push_line()/push_line_full() refusing
// lines that would smuggle in a second one.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {readMessage} from '../../bindings/gjs/achat.js';
import {
    PairMaker, Recorder, assert, assertBytes, assertEqual, assertError, assertThrows, channelPair, concat,
    connectPeerProcess, connectionPair, feed, flush, sameBytes, show, spin, text, u8, until, waitFor,
    withTimeout, writeAsPeer,
} from './common.js';
import {diag, test, run} from './tap.js';

/*
 * Child mode for the empty-line test: GJS passes an empty Uint8Array as a
 * NULL pointer with a length of 0, which push_line() must take.
 */
if (System.programArgs[0] === '--empty-lines') {
    const {channel, peer} = channelPair({defer() {}}, {terminator: '\r\n'});
    channel.push_line(new Uint8Array());
    channel.push_line_full(new Uint8Array(), u8('\0'));
    channel.push_line(u8('x'));
    peer.waitReceived(6);
    print(JSON.stringify(text(peer.received)));
    System.exit(0);
}

const BIG = Achat.ByteOrder.BIG_ENDIAN;
const LITTLE = Achat.ByteOrder.LITTLE_ENDIAN;

/** A size-byte length header holding value. */
function header(size, value, order = BIG) {
    const out = new Uint8Array(size);
    const view = new DataView(out.buffer);
    const little = order === LITTLE;
    switch (size) {
    case 1:
        view.setUint8(0, value);
        break;
    case 2:
        view.setUint16(0, value, little);
        break;
    case 4:
        view.setUint32(0, value, little);
        break;
    case 8:
        view.setBigUint64(0, BigInt(value), little);
        break;
    default:
        throw new Error(`no ${size}-byte header`);
    }
    return out;
}

/** Reads a size-byte header back. */
function readHeader(bytes, size, order = BIG) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, size);
    const little = order === LITTLE;
    switch (size) {
    case 1:
        return view.getUint8(0);
    case 2:
        return view.getUint16(0, little);
    case 4:
        return view.getUint32(0, little);
    case 8:
        return Number(view.getBigUint64(0, little));
    }
    throw new Error(`no ${size}-byte header`);
}

/** Frames of payloads: header(size, length + extra) then the payload. */
function frames(payloads, size, order = BIG, extra = 0) {
    return concat(payloads.flatMap(p => [header(size, p.length + extra, order), p]));
}

/** data cut into reads of size bytes. */
function chunked(data, size) {
    const out = [];
    for (let i = 0; i < data.length; i += size)
        out.push(data.subarray(i, i + size));
    return out;
}

/** Ways of cutting data into reads. */
function splits(data) {
    return [['whole', [data]], ['bytewise', chunked(data, 1)],
        ...[2, 3, 5, 7].map(n => [`by ${n}`, chunked(data, n)])];
}

/** A channel over a loopback pair; the peer does not delay small writes. */
function pair(t, options = {}) {
    const p = channelPair(t, options);
    // TCP_NODELAY: a read of its own for every byte fed, without Nagle's
    // wait for an acknowledgement.
    p.peer.connection.get_socket().set_option(6, 1, 1);
    return p;
}

function feedAll(channel, peer, reads) {
    for (const chunk of reads)
        feed(channel, peer, chunk);
    flush(5);
}

const allBytes = Uint8Array.from({length: 256}, (_, i) => i);
const PAYLOADS = [u8('hello'), u8(''), u8('line one\r\nline two\r\n'), allBytes, u8(''), u8('\n'),
    concat([header(4, 5), u8('fake header')])];

function messagesOf(recorder) {
    return recorder.messages.map(m => m.toArray());
}

/** The data-collected pieces of each message, joined. */
function collectedPerMessage(recorder) {
    const out = [];
    let pieces = [];
    for (const entry of recorder.events) {
        if (entry[0] === 'c') {
            pieces.push(entry[1]);
        } else if (entry[0] === 'T') {
            out.push(concat(pieces));
            pieces = [];
        }
    }
    return out;
}

/** A Recorder that also keeps the order of data-collected and terminator-found. */
function recorderWithEvents(channel) {
    const recorder = new Recorder(channel, {collect: true});
    recorder.events = [];
    channel.connect('data-collected', (_ch, data) => recorder.events.push(['c', data.toArray()]));
    channel.connect('terminator-found', (_ch, message) => recorder.events.push(['T', message.toArray()]));
    return recorder;
}

function assertMessages(recorder, expected, what = 'messages') {
    const got = messagesOf(recorder);
    assertEqual(got.length, expected.length, `${what}: ${recorder.logText}`);
    got.forEach((m, i) => assertBytes(m, expected[i], `${what} ${i}`));
}

/* Several terminators ------------------------------------------------------ */

function runMultiStream(t, reads, terminators = ['\r\n', '\n']) {
    const {channel, peer} = pair(t);
    channel.set_terminators(terminators);
    const recorder = recorderWithEvents(channel);
    const matched = [];
    channel.connect('terminator-found', ch => matched.push(text(ch.get_matched_terminator())));
    feedAll(channel, peer, reads);
    return {channel, recorder, matched};
}

test('set_terminators(["\\r\\n", "\\n"]): the same messages and matched terminators in every split', t => {
    const stream = u8('a\r\nb\nc\r\n');
    for (const [name, reads] of splits(stream)) {
        const {recorder, matched} = runMultiStream(t, reads);
        assertEqual(messagesOf(recorder).map(text), ['a', 'b', 'c'], name);
        assertEqual(matched, ['\r\n', '\n', '\r\n'], `${name}: matched`);
        assertEqual(collectedPerMessage(recorder).map(text), ['a', 'b', 'c'], `${name}: collected`);
        assert(!recorder.closed, `${name}: closed`);
    }
});

test('set_terminators: every two- and three-way split of "a\\r\\nb\\nc\\r\\n"', t => {
    const stream = u8('a\r\nb\nc\r\n');
    const n = stream.length;
    const cuts = [];
    for (let i = 1; i < n; i++) {
        cuts.push([i]);
        for (let j = i + 1; j < n; j++)
            cuts.push([i, j]);
    }
    for (const cut of cuts) {
        const bounds = [0, ...cut, n];
        const reads = bounds.slice(1).map((end, k) => stream.subarray(bounds[k], end));
        const {channel, recorder, matched} = runMultiStream(t, reads);
        const name = reads.map(r => `"${show(r)}"`).join(' ');
        assertEqual(messagesOf(recorder).map(text), ['a', 'b', 'c'], name);
        assertEqual(matched, ['\r\n', '\n', '\r\n'], `${name}: matched`);
        channel.close();
    }
});

test('set_terminators: the one starting first wins, then the longest; order of the set does not matter', t => {
    const cases = [
        ['one\r\n.\r\ntwo\nthree\r\n.\r\n', ['one', 'two', 'three'], ['\r\n.\r\n', '\n', '\r\n.\r\n']],
        ['a\r\nb\n', ['a\r', 'b'], ['\n', '\n']],
        ['a\r\n.x\n', ['a\r', '.x'], ['\n', '\n']],
        ['a\r\n.\r\r\n.\r\n', ['a\r', '.\r'], ['\n', '\r\n.\r\n']],
    ];
    for (const terminators of [['\r\n.\r\n', '\n'], ['\n', '\r\n.\r\n']]) {
        for (const [stream, messages, matchedExpected] of cases) {
            for (const [name, reads] of splits(u8(stream))) {
                const {channel, recorder, matched} = runMultiStream(t, reads, terminators);
                const what = `${show(stream)} ${name} [${terminators.map(x => show(x))}]`;
                assertEqual(messagesOf(recorder).map(text), messages, what);
                assertEqual(matched, matchedExpected, `${what}: matched`);
                channel.close();
            }
        }
    }
});

test('set_terminators: getters; get_matched_terminator() survives a change made in the handler', t => {
    const {channel, peer} = pair(t);
    assertEqual(channel.get_matched_terminator()?.length ?? 0, 0, 'before any message');
    channel.set_terminators(['\r\n', '\n']);
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES);
    assertBytes(channel.get_terminator(), '\r\n');
    const recorder = new Recorder(channel);
    const seen = [];
    channel.connect('terminator-found', ch => {
        ch.set_terminator(u8('#'));
        seen.push(text(ch.get_matched_terminator()));
    });
    feedAll(channel, peer, ['x\ny#']);
    assertEqual(recorder.messages.map(text), ['x', 'y']);
    assertEqual(seen, ['\n', '#']);
    assertBytes(channel.get_matched_terminator(), '#');
});

test('get_matched_terminator() is empty for a length-prefixed frame', t => {
    const {channel, peer} = pair(t);
    channel.set_terminators(['\r\n', '\n']);
    const recorder = new Recorder(channel);
    const seen = [];
    channel.connect('terminator-found', ch => {
        seen.push(text(ch.get_matched_terminator() ?? new Uint8Array()));
        ch.set_terminator_length_prefix(1, BIG, 0, 0);
    });
    feedAll(channel, peer, [concat([u8('x\n'), header(1, 2), u8('ab')])]);
    assertEqual(recorder.messages.map(text), ['x', 'ab']);
    assertEqual(seen, ['\n', '']);
});

/* Length-prefixed frames --------------------------------------------------- */

function checkFrames(t, prefix, stream, payloads) {
    for (const [name, reads] of splits(stream)) {
        const {channel, peer} = pair(t);
        channel.set_terminator_length_prefix(...prefix);
        assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.LENGTH_PREFIX);
        const recorder = recorderWithEvents(channel);
        feedAll(channel, peer, reads);
        assertMessages(recorder, payloads, name);
        const collected = collectedPerMessage(recorder);
        payloads.forEach((p, i) => assertBytes(collected[i], p, `${name}: collected ${i}`));
        assert(!recorder.closed, `${name}: closed ${recorder.logText}`);
        assertEqual(channel.get_collected().get_size(), 0, `${name}: left collected`);
        channel.close();
    }
}

test('length prefix: 4-byte big-endian headers, in every split', t => {
    checkFrames(t, [4, BIG, 0, 0], frames(PAYLOADS, 4), PAYLOADS);
});

test('length prefix: 2-byte little-endian headers', t => {
    checkFrames(t, [2, LITTLE, 0, 0], frames(PAYLOADS, 2, LITTLE), PAYLOADS);
});

test('length prefix: 1- and 8-byte headers', t => {
    checkFrames(t, [1, BIG, 0, 0], frames(PAYLOADS.slice(0, 3), 1), PAYLOADS.slice(0, 3));
    checkFrames(t, [8, LITTLE, 0, 0], frames(PAYLOADS, 8, LITTLE), PAYLOADS);
});

test('length prefix: adjustment -4 for a header that counts itself', t => {
    checkFrames(t, [4, BIG, -4, 0], frames(PAYLOADS, 4, BIG, 4), PAYLOADS);
});

test('length prefix: a large frame then a small one', t => {
    const {channel, peer} = pair(t);
    channel.set_terminator_length_prefix(4, BIG, 0, 0);
    const recorder = new Recorder(channel);
    const big = Uint8Array.from({length: 300 * 1024}, (_, i) => i % 251);
    peer.writeAsync(frames([big, u8('!')], 4));
    recorder.waitMessages(2);
    assertMessages(recorder, [big, u8('!')]);
});

test('length prefix: a handler switches between lines and frames, in every split', t => {
    const stream = concat([u8('2\n'), header(2, 4), u8('a\r\nb'), header(2, 0), u8('line\n1\n'),
        header(2, 3), u8('1\n2'), u8('end\n')]);
    for (const [name, reads] of splits(stream)) {
        const {channel, peer} = pair(t, {terminator: '\n'});
        const recorder = new Recorder(channel);
        let framesLeft = 0;
        channel.connect('terminator-found', (ch, message) => {
            const m = text(message);
            if (framesLeft)
                framesLeft--;
            else if (/^[0-9]+$/.test(m))
                framesLeft = Number(m);
            if (framesLeft)
                ch.set_terminator_length_prefix(2, BIG, 0, 0);
            else
                ch.set_terminator(u8('\n'));
        });
        feedAll(channel, peer, reads);
        assertEqual(recorder.messages.map(text), ['2', 'a\r\nb', '', 'line', '1', '1\n2', 'end'], name);
        assert(!recorder.closed, `${name}: closed`);
        channel.close();
    }
});

test('push_frame(): the peer parses the headers back', t => {
    const cases = [[[4, BIG, 0, 0], 0], [[2, LITTLE, 0, 0], 0], [[4, BIG, -4, 0], 4],
        [[8, LITTLE, 0, 0], 0], [[1, BIG, 0, 0], 0]];
    for (const [prefix, extra] of cases) {
        const {channel, peer} = pair(t);
        channel.set_terminator_length_prefix(...prefix);
        const [size, order] = prefix;
        const payloads = PAYLOADS.slice(0, 3);
        for (const p of payloads)
            assert(channel.push_frame(p), 'push_frame');
        assert(channel.push_frame_bytes(new GLib.Bytes(u8('from bytes'))), 'push_frame_bytes');
        const expected = [...payloads, u8('from bytes')];
        const total = expected.reduce((n, p) => n + size + p.length, 0);
        peer.waitReceived(total);
        let wire = peer.received;
        const got = [];
        while (wire.length > 0) {
            const length = readHeader(wire, size, order) - extra;
            got.push(wire.slice(size, size + length));
            wire = wire.subarray(size + length);
        }
        assertEqual(got.length, expected.length, `frames for ${prefix}`);
        expected.forEach((p, i) => assertBytes(got[i], p, `${prefix} frame ${i}`));
        spin(30);
        assertEqual(peer.receivedLength, total, 'nothing more');
        channel.close();
    }
});

test('push_frame(): a payload too long for its header is refused with FRAME_TOO_LONG, nothing queued', t => {
    const {channel, peer, recorder} = pair(t);
    channel.set_terminator_length_prefix(1, BIG, 0, 0);
    const queued = channel.get_queued_bytes();
    let error = null;
    try {
        channel.push_frame(new Uint8Array(256));
    } catch (e) {
        error = e;
    }
    assert(error !== null, 'push_frame did not throw');
    assert(error.matches(Achat.error_quark(), Achat.Error.FRAME_TOO_LONG), `threw ${error}`);
    assertEqual(channel.get_queued_bytes(), queued);
    assert(channel.push_frame(new Uint8Array(255).fill(7)), 'a 255-byte frame');
    peer.waitReceived(256);
    spin(30);
    assertBytes(peer.received, concat([u8([255]), new Uint8Array(255).fill(7)]));
    assert(!recorder.closed, 'closed');
});

test('a frame over max_frame_length closes with FRAME_TOO_LONG before its payload is delivered', t => {
    const {channel, peer} = pair(t);
    channel.set_terminator_length_prefix(4, BIG, 0, 100);
    const recorder = recorderWithEvents(channel);
    channel.connect('terminator-found', (ch, m) => ch.push(u8(`got ${m.get_size()};`)));
    const first = new Uint8Array(10).fill(0x78), second = new Uint8Array(100).fill(0x79);
    peer.write(concat([header(4, 10), first, header(4, 100), second, header(4, 101),
        u8('EVIL'.repeat(25)), u8('!'), header(4, 1), u8('z')]));
    recorder.waitClosed();
    assertMessages(recorder, [first, second]);
    assertError(recorder.error, Achat.error_quark(), Achat.Error.FRAME_TOO_LONG);
    assert(recorder.error.message.includes('101 bytes'), recorder.error.message);
    assert(!recorder.events.some(([kind, data]) => kind === 'c' && text(data).includes('EVIL')),
        'the refused payload was collected');
    recorder.assertClosedOnce();
    peer.waitEof();
    assertEqual(text(peer.received), 'got 10;got 100;');
});

test('a frame over max_frame_length is refused at its header, without its payload', t => {
    const {channel, peer, recorder} = pair(t);
    channel.set_terminator_length_prefix(2, LITTLE, 0, 16);
    peer.write(concat([header(2, 3, LITTLE), u8('abc'), header(2, 0xffff, LITTLE)]));
    recorder.waitClosed();
    assertEqual(recorder.messages.map(text), ['abc']);
    assertError(recorder.error, Achat.error_quark(), Achat.Error.FRAME_TOO_LONG);
});

test('a frame over max-input-size closes with INPUT_LIMIT, whichever is set first', t => {
    for (const [order, maxFrame] of [['before', 1000], ['after', 1000], ['before', 0], ['after', 0]]) {
        const {channel, peer} = pair(t);
        const recorder = recorderWithEvents(channel);
        if (order === 'before')
            channel.max_input_size = 64;
        channel.set_terminator_length_prefix(4, BIG, 0, maxFrame);
        if (order === 'after')
            channel.max_input_size = 64;
        const ok = new Uint8Array(64).fill(0x6b);
        peer.write(concat([header(4, 64), ok, header(4, 65), u8('EVIL'.repeat(17))]));
        recorder.waitClosed();
        const what = `max-input-size set ${order}, max frame ${maxFrame}`;
        assertMessages(recorder, [ok], what);
        assertError(recorder.error, Achat.error_quark(), Achat.Error.INPUT_LIMIT, what);
        assert(recorder.error.message.includes('65 bytes') && recorder.error.message.includes('64 bytes'),
            recorder.error.message);
        assert(!recorder.events.some(([kind, data]) => kind === 'c' && text(data).includes('EVIL')),
            `${what}: the refused payload was collected`);
        channel.close();
    }
});

test('a header giving a negative length closes with INVALID_FRAME', t => {
    const {channel, peer, recorder} = pair(t);
    channel.set_terminator_length_prefix(4, BIG, -4, 0);
    peer.write(concat([header(4, 6), u8('ok'), header(4, 3), u8('abc')]));
    recorder.waitClosed();
    assertEqual(recorder.messages.map(text), ['ok']);
    assertError(recorder.error, Achat.error_quark(), Achat.Error.INVALID_FRAME);
});

test('the peer closing mid-frame closes with TRUNCATED_FRAME; between frames, with no error', t => {
    const cases = [
        ['in the payload', concat([header(4, 10), u8('12345')]), '5 bytes before the end'],
        ['in the header', u8([0, 0]), '2 bytes'],
        ['after the header', header(4, 10), '10 bytes before the end'],
        ['between frames', header(4, 0), null],
    ];
    for (const [name, tail, mention] of cases) {
        const {channel, peer, recorder} = pair(t);
        channel.set_terminator_length_prefix(4, BIG, 0, 0);
        feed(channel, peer, concat([header(4, 4), u8('done')]));
        feed(channel, peer, tail);
        peer.shutdownWrite();
        recorder.waitClosed();
        assertEqual(recorder.messages.map(text), mention ? ['done'] : ['done', ''], name);
        if (mention) {
            assertError(recorder.error, Achat.error_quark(), Achat.Error.TRUNCATED_FRAME, name);
            assert(recorder.error.message.includes(mention), `${name}: ${recorder.error.message}`);
        } else {
            assertEqual(recorder.error, null, `${name}: error`);
        }
        recorder.assertClosedOnce();
    }
});

test('length prefix gives the same messages as the asynchat idiom ("<len>\\r\\n" then a count)', t => {
    const payloads = [...PAYLOADS, u8('tail')];
    const idiomStream = concat(payloads.flatMap(p => [u8(`${p.length}\r\n`), p]));
    const frameStream = frames(payloads, 4);
    for (const size of [1, 3, 64, 100000]) {
        const idiom = pair(t, {terminator: '\r\n'});
        const idiomMessages = [];
        let inBody = false;
        idiom.channel.connect('terminator-found', (ch, message) => {
            if (inBody) {
                idiomMessages.push(message.toArray());
                inBody = false;
                ch.set_terminator(u8('\r\n'));
            } else if (Number(text(message)) === 0) {
                // A count of 0 means no terminator, as in asynchat.
                idiomMessages.push(new Uint8Array());
            } else {
                inBody = true;
                ch.set_terminator_count(Number(text(message)));
            }
        });
        const framed = pair(t);
        framed.channel.set_terminator_length_prefix(4, BIG, 0, 0);
        feedAll(idiom.channel, idiom.peer, chunked(idiomStream, size));
        feedAll(framed.channel, framed.peer, chunked(frameStream, size));
        assertEqual(idiomMessages.length, payloads.length, `idiom, reads of ${size}`);
        payloads.forEach((p, i) => assertBytes(idiomMessages[i], p, `idiom ${i}`));
        assertMessages(framed.recorder, idiomMessages, `frames, reads of ${size}`);
        idiom.channel.close();
        framed.channel.close();
    }
});

/* Lines ---------------------------------------------------------------------- */

const BAD_LINES = ['a\r\nb', 'a\rb', 'a\nb', '\r', '\n', 'line\r\n', '\rline'];

/** Calls fn, which must throw a GLib.Error ACHAT_ERROR_INVALID_LINE. */
function assertInvalidLine(fn, what) {
    let error = null;
    try {
        fn();
    } catch (e) {
        error = e;
    }
    assert(error !== null, `${what}: did not throw`);
    assert(error instanceof GLib.Error, `${what}: threw ${error}`);
    assert(error.matches(Achat.error_quark(), Achat.Error.INVALID_LINE),
        `${what}: threw ${GLib.quark_to_string(error.domain)} ${error.code}: ${error.message}`);
    return error;
}

test('push_line() appends the terminator (the first of several)', t => {
    const {channel, peer} = pair(t, {terminator: '\r\n'});
    assert(channel.push_line(u8('hello')), 'push_line');
    peer.waitReceived(7);
    assertEqual(text(peer.received), 'hello\r\n');

    const other = pair(t);
    other.channel.set_terminators(['\n', '\r\n']);
    assert(other.channel.push_line(u8('hello')), 'push_line');
    other.peer.waitReceived(6);
    assertEqual(text(other.peer.received), 'hello\n');
});

test('push_line() and push_line_full() take an empty line (probed in a child process)', () => {
    // Run apart: GJS passes an empty Uint8Array as NULL, which once reached
    // memchr() (undefined: UBSan aborted the whole process).
    const gjs = GLib.file_read_link('/proc/self/exe');
    const script = Gio.File.new_for_uri(import.meta.url).get_path();
    const child = Gio.Subprocess.new([gjs, '-m', script, '--empty-lines'],
        Gio.SubprocessFlags.STDOUT_PIPE | Gio.SubprocessFlags.STDERR_PIPE);
    const [, stdout, stderr] = child.communicate_utf8(null, null);
    if (stderr.trim())
        print(stderr.trim().split('\n').map(l => `# child: ${l}`).join('\n'));
    assert(child.get_successful(), `the child failed (status ${child.get_status()})`);
    assertEqual(JSON.parse(stdout.trim().split('\n').pop()), '\r\n\0x\r\n');
});

test('push_line() refuses a line with a CR or LF: INVALID_LINE, nothing queued, nothing sent', t => {
    for (const terminator of ['\r\n', '\n']) {
        const {channel, peer, recorder} = pair(t, {terminator});
        let expected = 0;
        for (const line of BAD_LINES) {
            assert(channel.push(u8('before')), 'push');
            const queued = channel.get_queued_bytes();
            assert(queued > 0, 'queued-bytes after push');
            const e = assertInvalidLine(() => channel.push_line(u8(line)), `"${show(line)}"`);
            assert(/byte [0-9]+/.test(e.message), e.message);
            assertEqual(channel.get_queued_bytes(), queued, `"${show(line)}": queued-bytes`);
            expected += 6;
            peer.waitReceived(expected);
        }
        spin(30);
        assertEqual(text(peer.received), 'before'.repeat(BAD_LINES.length), `terminator ${show(terminator)}`);
        assert(channel.push_line(u8('fine')), 'a good line after');
        peer.waitReceived(expected + 4 + terminator.length);
        assertEqual(text(peer.received).slice(expected), `fine${terminator}`);
        assert(!recorder.closed, 'closed');
        channel.close();
    }
});

test('push_line() with several terminators refuses each; with "\\0" it allows CR LF', t => {
    const {channel, peer} = pair(t);
    channel.set_terminators(['\r\n', 'END']);
    for (const line of ['xENDy', 'x\ny', 'x\ry'])
        assertInvalidLine(() => channel.push_line(u8(line)), line);
    assertEqual(channel.get_queued_bytes(), 0);

    channel.set_terminator(u8('\0'));
    assert(channel.push_line(u8('a\r\nb')), 'CR LF before a NUL terminator');
    assertInvalidLine(() => channel.push_line(u8('a\0b')), 'a NUL line');
    peer.waitReceived(5);
    spin(30);
    assertBytes(peer.received, 'a\r\nb\0');
});

test('push_line_full() with "\\0" refuses a line containing "\\0"', t => {
    const {channel, peer} = pair(t, {terminator: '\n'});
    assert(channel.push_line_full(u8('abc'), u8('\0')), 'abc');
    assert(channel.push_line_full(u8('a\nb'), u8('\0')), 'LF before a NUL terminator');
    const refused = [['a\0b', '\0'], ['\0', '\0'], ['ab\0', '\0'], ['a\rb', '\r\n'], ['a\nb', '\r\n'],
        ['aXYb', 'XY']];
    for (const [line, terminator] of refused) {
        const queued = channel.get_queued_bytes();
        assertInvalidLine(() => channel.push_line_full(u8(line), u8(terminator)),
            `"${show(line)}" + "${show(terminator)}"`);
        assertEqual(channel.get_queued_bytes(), queued);
    }
    assert(channel.push_line_full(u8('aXb'), u8('XY')), 'aXb');
    peer.waitReceived(13);
    spin(30);
    assertBytes(peer.received, 'abc\0a\nb\0aXbXY');
});

/* Text lengths ------------------------------------------------------------- */

/** A format's set_terminator_text_length() arguments and its encoder. */
const hex = n => n.toString(16);
const TEXT_FORMATS = {
    decimal: [[10, '\r\n', null, 0], p => concat([u8(`${p.length}\r\n`), p])],
    netstring: [[10, ':', ',', 0], p => concat([u8(`${p.length}:`), p, u8(',')])],
    chunk: [[16, '\r\n', '\r\n', 0], p => concat([u8(`${hex(p.length)}\r\n`), p, u8('\r\n')])],
    'chunk-upper': [[16, '\r\n', '\r\n', 0], p => concat([u8(`${hex(p.length).toUpperCase()}\r\n`), p, u8('\r\n')])],
    long: [[16, ' |sep| ', '<<end>>', 0],
        p => concat([u8(`${hex(p.length).padStart(3, '0')} |sep| `), p, u8('<<end>>')])],
};

/* Payloads holding separators, trailers and whole frames of each format;
 * 26 and 31 bytes for hexadecimal lengths with letters. */
const TEXT_PAYLOADS = [u8('hello'), u8(''), u8('5:a,b,'), u8('\r\n'), u8('1a\r\nxx\r\n'), u8(','), u8(''),
    u8(':'), Uint8Array.from({length: 26}, (_, i) => i),
    concat([u8('<<end>> |sep| '), u8([250, 251, 252, 253, 254, 255]), u8('<<e')]), new Uint8Array(31)];

function textStream(name, payloads = TEXT_PAYLOADS) {
    return concat(payloads.map(TEXT_FORMATS[name][1]));
}

/** One write, cut in two at every byte, one byte per write. */
function twoWritesAndBytewise(data) {
    const out = [['whole', [data]]];
    for (let cut = 1; cut < data.length; cut++)
        out.push([`cut at ${cut}`, [data.subarray(0, cut), data.subarray(cut)]]);
    out.push(['bytewise', chunked(data, 1)]);
    return out;
}

const TerminatorFoundText = GObject.registerClass(class TerminatorFoundText extends Achat.Channel {
    vfunc_terminator_found(message) {
        if (!(message instanceof GLib.Bytes))
            this.wrong.push(`vfunc_terminator_found given ${message}`);
        this.got.push(message.toArray());
    }
});

const MessageFoundText = GObject.registerClass(class MessageFoundText extends Achat.Channel {
    vfunc_message_found(data) {
        if (!(data instanceof Uint8Array))
            this.wrong.push(`vfunc_message_found given ${data}`);
        this.got.push(Uint8Array.from(data));
    }
});

const MessagesFoundText = GObject.registerClass(class MessagesFoundText extends Achat.Channel {
    vfunc_messages_found(data, bounds) {
        // A copy: data lives for this call only.
        const bytes = data.toArray();
        if (bounds.length < 2 || bounds.length % 2 !== 0)
            this.wrong.push(`${bounds.length} bounds`);
        for (let i = 0; i < bounds.length; i++) {
            if (bounds[i] > bytes.length || (i > 0 && bounds[i] < bounds[i - 1]))
                this.wrong.push(`bounds [${bounds}] out of order or past ${bytes.length} bytes`);
        }
        for (let i = 0; i < bounds.length; i += 2)
            this.got.push(bytes.slice(bounds[i], bounds[i + 1]));
        this.calls.push([bytes, Array.from(bounds)]);
        return bounds.length / 2;
    }
});

const TEXT_STYLES = {
    vfunc_terminator_found: TerminatorFoundText,
    vfunc_message_found: MessageFoundText,
    vfunc_messages_found: MessagesFoundText,
    signal: Achat.Channel,
    'signal+data-collected': Achat.Channel,
};

/** The channel of a style over a pair of maker, framed by args. */
function textPair(maker, style, args) {
    const {channel, peer} = maker.pair(TEXT_STYLES[style] ?? Achat.Channel);
    channel.got = [];
    channel.wrong = [];
    channel.calls = [];
    channel.closedWith = [];
    if (style === 'signal+data-collected')
        channel.recorder = recorderWithEvents(channel);
    else if (style === 'signal')
        channel.recorder = new Recorder(channel);
    channel.set_terminator_text_length(...args);
    channel.connect('closed', (_ch, error) => channel.closedWith.push(error));
    return {channel, peer};
}

function writeWaiting(channel, peer, reads) {
    let total = channel.get_bytes_received();
    for (const piece of reads) {
        peer.get_output_stream().write_all(piece, null);
        total += piece.length;
        waitFor(() => channel.get_bytes_received() >= total || channel.is_closing(),
            `the channel to read ${total} bytes`);
    }
}

/** Runs reads through a channel of a handler style; returns [messages, closed errors]. */
function runTextStyle(maker, style, args, reads) {
    const {channel, peer} = textPair(maker, style, args);
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH);
    try {
        writeWaiting(channel, peer, reads);
        peer.close(null);
        waitFor(() => channel.closedWith.length > 0, 'the channel to close');
        flush(2);
        assertEqual(channel.wrong, [], style);
        let got = channel.got;
        if (style.startsWith('signal'))
            got = messagesOf(channel.recorder);
        if (style === 'signal+data-collected') {
            // The default handler built each message from the pieces
            // data-collected had: none of a header or trailer.
            const collected = collectedPerMessage(channel.recorder);
            got.forEach((m, i) => assertBytes(collected[i], m, `${style}: collected ${i}`));
        }
        return {got, closed: channel.closedWith, received: channel.get_bytes_received()};
    } finally {
        channel.close();
        peer.close(null);
    }
}

/** Reads by await readMessage() until the end; returns {got, end}. */
async function runTextPull(maker, args, reads) {
    const {channel, peer} = maker.pair();
    try {
        channel.set_terminator_text_length(...args);
        const got = [];
        let end;
        const reader = (async () => {
            try {
                for (;;) {
                    // eslint-disable-next-line no-await-in-loop
                    const message = await readMessage(channel);
                    if (message === null)
                        break;
                    got.push(message.toArray());
                    if (got.length > 1000)
                        throw new Error('more than 1000 messages');
                }
                end = null;
            } catch (e) {
                end = e;
            }
        })();
        let total = 0;
        for (const piece of reads) {
            peer.get_output_stream().write_all(piece, null);
            total += piece.length;
            // eslint-disable-next-line no-await-in-loop
            await until(() => channel.get_bytes_received() >= total || end !== undefined,
                `the channel to read ${total} bytes`);
        }
        peer.close(null);
        await withTimeout(reader, 'the last read');
        return {got, closed: [end], received: channel.get_bytes_received()};
    } finally {
        channel.close();
        peer.close(null);
    }
}

function checkTextRun(name, split, result, stream, failures) {
    const {got, closed, received} = result;
    const same = got.length === TEXT_PAYLOADS.length && got.every((m, i) => sameBytes(m, TEXT_PAYLOADS[i]));
    if (!same)
        failures.push(`${name}, ${split}: got [${got.map(m => `"${show(m)}"`).join(', ')}]`);
    else if (closed.length !== 1 || closed[0] !== null)
        failures.push(`${name}, ${split}: closed ${closed.map(e => e?.message ?? e)}`);
    else if (received !== stream.length)
        failures.push(`${name}, ${split}: ${received} bytes received`);
}

for (const style of [...Object.keys(TEXT_STYLES), 'pull']) {
    for (const name of Object.keys(TEXT_FORMATS)) {
        test(`text length, ${name}: one write, cut in two at every byte, one byte per write, through ${style}`,
            async t => {
                const maker = new PairMaker();
                t.defer(() => maker.close());
                const args = TEXT_FORMATS[name][0];
                const stream = textStream(name);
                const failures = [];
                let runs = 0;
                for (const [split, reads] of twoWritesAndBytewise(stream)) {
                    // GJS before 1.82 refuses (and aborts on) callbacks into JS
                    // between the slices of an incremental collection, which
                    // the garbage of hundreds of channels starts: a full one
                    // forced now and then keeps the engine from it (see
                    // test-whole.js, GC_EVERY).
                    if (++runs % 25 === 0)
                        System.gc();
                    const result = style === 'pull'
                        // eslint-disable-next-line no-await-in-loop
                        ? await runTextPull(maker, args, reads)
                        : runTextStyle(maker, style, args, reads);
                    checkTextRun(name, split, result, stream, failures);
                    if (failures.length >= 3)
                        break;
                }
                assertEqual(failures, [], `${style}, ${name}`);
            }, {timeout: 60000});
    }
}

test('text length: vfunc_messages_found gets every netstring of a read in one call, bounds around the payloads', t => {
    const maker = new PairMaker();
    t.defer(() => maker.close());
    const cases = [
        [[10, ':', ',', 0], '5:hello,0:,3:a,b,2:xy', 'hello,0:,3:a,b,', [0, 5, 8, 8, 11, 14]],
        [[16, '\r\n', '\r\n', 0], `1A\r\n${'z'.repeat(26)}\r\n0\r\n\r\n003\r\n\r\n\r\r\n`,
            `${'z'.repeat(26)}\r\n0\r\n\r\n003\r\n\r\n\r\r\n`, [0, 26, 31, 31, 38, 41]],
        [[10, '\r\n', null, 0], '0\r\n3\r\nabc2\r\nde', '3\r\nabc2\r\nde', [0, 0, 3, 6, 9, 11]],
    ];
    for (const [args, stream, shown, bounds] of cases) {
        const {channel, peer} = textPair(maker, 'vfunc_messages_found', args);
        writeWaiting(channel, peer, [u8(stream)]);
        flush(10);
        assertEqual(channel.wrong, []);
        assertEqual(channel.calls.length, 1, `${show(stream)}: calls`);
        assertBytes(channel.calls[0][0], shown, `${show(stream)}: data`);
        assertEqual(channel.calls[0][1], bounds, `${show(stream)}: bounds`);
        channel.close();
        peer.close(null);
    }
});

test('text length: a frame begun in an earlier read comes alone to vfunc_messages_found', t => {
    const maker = new PairMaker();
    t.defer(() => maker.close());
    const {channel, peer} = textPair(maker, 'vfunc_messages_found', [10, ':', ',', 0]);
    writeWaiting(channel, peer, ['5:he', 'llo,1:x,', '2:ab', ',', '0:', ',0:,'].map(u8));
    flush(5);
    assertEqual(channel.got.map(text), ['hello', 'x', 'ab', '', '']);
    assertEqual(channel.calls.map(([, b]) => b), [[0, 5], [0, 1], [0, 2], [0, 0], [0, 0]]);
    channel.close();
    peer.close(null);
});

test('text length: getters; trailer null and "" are the same; separators that are digits in another radix', t => {
    const {channel, peer, recorder} = pair(t);
    channel.set_terminator_text_length(10, ':', ',', 0);
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH);
    assertEqual(channel.get_terminator()?.length ?? 0, 0, 'get_terminator()');
    feedAll(channel, peer, ['3:a:b,']);
    channel.set_terminator_text_length(10, '\n', '', 0);
    feedAll(channel, peer, ['3\nabc0\n']);
    channel.set_terminator_text_length(10, '\n', null, 0);
    feedAll(channel, peer, ['2\n\n\n']);
    channel.set_terminator_text_length(10, 'a', null, 0);
    feedAll(channel, peer, ['5ahello']);
    channel.set_terminator_text_length(16, 'x', ';', 0);
    feedAll(channel, peer, ['Cxqwertyuiopas;']);
    channel.set_terminator_text_length(10, 'éèàç', 'ç€', 0);
    feedAll(channel, peer, ['4éèàçdataç€']);
    assertEqual(recorder.messages.map(text), ['a:b', 'abc', '', '\n\n', 'hello', 'qwertyuiopas', 'data']);
    assert(!recorder.closed, recorder.logText);
});

test('text length: 20 decimal and 16 hexadecimal digits, leading zeros included, in every split', t => {
    const cases = [[[10, ':', ',', 0], '00000000000000000005:hello,', 'hello'],
        [[16, '\r\n', '\r\n', 0], '000000000000000A\r\n0123456789\r\n', '0123456789']];
    for (const [args, stream, message] of cases) {
        for (const [name, reads] of splits(u8(stream))) {
            const {channel, peer, recorder} = pair(t);
            channel.set_terminator_text_length(...args);
            feedAll(channel, peer, reads);
            assertEqual(recorder.messages.map(text), [message], `${stream} ${name}`);
            assert(!recorder.closed, `${stream} ${name}: ${recorder.logText}`);
            channel.close();
        }
    }
});

test('text length: a handler switches between lines and netstrings, in every split', t => {
    const stream = u8('2\n4:a\r\nb,0:,line\n1\n3:1\n2,end\n');
    for (const [name, reads] of splits(stream)) {
        const {channel, peer} = pair(t, {terminator: '\n'});
        const recorder = new Recorder(channel);
        let framesLeft = 0;
        channel.connect('terminator-found', (ch, message) => {
            const m = text(message);
            if (framesLeft)
                framesLeft--;
            else if (/^[0-9]+$/.test(m))
                framesLeft = Number(m);
            if (framesLeft)
                ch.set_terminator_text_length(10, ':', ',', 0);
            else
                ch.set_terminator(u8('\n'));
        });
        feedAll(channel, peer, reads);
        assertEqual(recorder.messages.map(text), ['2', 'a\r\nb', '', 'line', '1', '1\n2', 'end'], name);
        assert(!recorder.closed, `${name}: closed`);
        channel.close();
    }
});

test('text length: a large chunk then a small one', t => {
    const {channel, peer, recorder} = pair(t);
    channel.set_terminator_text_length(16, '\r\n', '\r\n', 0);
    const big = Uint8Array.from({length: 300 * 1024}, (_, i) => i % 251);
    peer.writeAsync(concat([TEXT_FORMATS.chunk[1](big), TEXT_FORMATS.chunk[1](u8('!'))]));
    recorder.waitMessages(2);
    assertMessages(recorder, [big, u8('!')]);
});

test('text length: read_message_async() callbacks, the next read started in the callback', t => {
    const maker = new PairMaker();
    t.defer(() => maker.close());
    for (const name of Object.keys(TEXT_FORMATS)) {
        const stream = textStream(name);
        for (const reads of [[stream], chunked(stream, 3)]) {
            const {channel, peer} = maker.pair();
            channel.set_terminator_text_length(...TEXT_FORMATS[name][0]);
            const got = [];
            let end;
            const onRead = (ch, result) => {
                let message;
                try {
                    message = ch.read_message_finish(result);
                } catch (e) {
                    end = e;
                    return;
                }
                if (message === null) {
                    end = null;
                    return;
                }
                got.push(message.toArray());
                ch.read_message_async(null, onRead);
            };
            channel.read_message_async(null, onRead);
            for (const piece of reads)
                peer.get_output_stream().write_all(piece, null);
            peer.close(null);
            waitFor(() => end !== undefined, 'the end of the stream');
            assertEqual(end, null, `${name}: the end`);
            assertEqual(got.length, TEXT_PAYLOADS.length, `${name}: messages`);
            got.forEach((m, i) => assertBytes(m, TEXT_PAYLOADS[i], `${name}: message ${i}`));
            channel.close();
        }
    }
});

test('text length: await readMessage() after a frame cut short rejects with TRUNCATED_FRAME', async t => {
    const maker = new PairMaker();
    t.defer(() => maker.close());
    for (const [tail, mention] of [['5:hel', '2 bytes before the end'], ['5:hello', 'trailer ","'],
        ['5', 'header']]) {
        const {channel, peer} = maker.pair();
        channel.set_terminator_text_length(10, ':', ',', 0);
        peer.get_output_stream().write_all(u8(`2:ok,${tail}`), null);
        peer.close(null);
        // eslint-disable-next-line no-await-in-loop
        const first = await withTimeout(readMessage(channel), 'the first message');
        assertEqual(text(first), 'ok');
        let error = null;
        try {
            // eslint-disable-next-line no-await-in-loop
            await withTimeout(readMessage(channel), 'the end');
        } catch (e) {
            error = e;
        }
        assertError(error, Achat.error_quark(), Achat.Error.TRUNCATED_FRAME, tail);
        assert(error.message.includes(mention), error.message);
        channel.close();
    }
});

test('text length: push_frame() and push_frame_bytes() write the format (lower-case hexadecimal, no leading zeros)', t => {
    const payloads = [u8('hello'), u8(''), u8('5:a,b,'), u8('\r\n0\r\n\r\n'), allBytes];
    const encoders = {...Object.fromEntries(Object.entries(TEXT_FORMATS).map(([k, v]) => [k, v[1]])),
        long: p => concat([u8(`${hex(p.length)} |sep| `), p, u8('<<end>>')])};
    for (const name of ['decimal', 'netstring', 'chunk', 'long']) {
        const {channel, peer} = pair(t);
        channel.set_terminator_text_length(...TEXT_FORMATS[name][0]);
        for (const p of payloads.slice(0, -1))
            assert(channel.push_frame(p), 'push_frame');
        assert(channel.push_frame_bytes(new GLib.Bytes(payloads.at(-1))), 'push_frame_bytes');
        const expected = concat(payloads.map(encoders[name]));
        peer.waitReceived(expected.length);
        spin(30);
        assertBytes(peer.received, expected, name);
        channel.close();
    }
    const {channel, peer} = pair(t);
    channel.set_terminator_text_length(16, '\r\n', '\r\n', 0);
    channel.push_frame(new Uint8Array(0xabc).fill(0x78));
    peer.waitReceived(5 + 0xabc + 2);
    assertBytes(peer.received.subarray(0, 5), 'abc\r\n');
});

test('text length: push_frame() read back by a channel of the same format', t => {
    const payloads = [...TEXT_PAYLOADS, Uint8Array.from({length: 70000}, (_, i) => i % 256)];
    for (const name of Object.keys(TEXT_FORMATS)) {
        const {server, client} = connectionPair();
        const sender = new Achat.Channel({stream: client});
        const receiver = new Achat.Channel({stream: server});
        t.defer(() => {
            sender.close();
            receiver.close();
        });
        sender.set_terminator_text_length(...TEXT_FORMATS[name][0]);
        receiver.set_terminator_text_length(...TEXT_FORMATS[name][0]);
        const recorder = new Recorder(receiver);
        for (const p of payloads)
            assert(sender.push_frame(p), 'push_frame');
        assert(sender.push_frame_bytes(new GLib.Bytes(u8('last'))), 'push_frame_bytes');
        recorder.waitMessages(payloads.length + 1);
        assertMessages(recorder, [...payloads, u8('last')], name);
        assert(!recorder.closed, recorder.logText);
        sender.close();
        receiver.close();
    }
});

test('text length: push_frame() without a length setting is a critical', t => {
    t.expectLog('Achat', /set_terminator_text_length\(\) first/, {min: 2});
    const {channel} = pair(t, {terminator: '\n'});
    assertEqual(channel.push_frame(u8('x')), false);
    assertEqual(channel.push_frame_bytes(new GLib.Bytes(u8('x'))), false);
    assertEqual(channel.get_queued_bytes(), 0);
});

/** Feeds reads until the channel closed (its end of the socket is then gone). */
function feedUntilClosed(channel, peer, reads) {
    for (const chunk of reads) {
        if (channel.is_closed())
            break;
        try {
            feed(channel, peer, chunk);
        } catch (e) {
            if (!(e instanceof GLib.Error))
                throw e;
            break;   // a reset: the channel closed meanwhile
        }
    }
}

/** The channel delivers messages, then closes once with code, in every split of reads. */
function closesWith(t, args, reads, code, messages, mention, {maxInputSize = null} = {}) {
    const stream = concat(reads.map(u8));
    System.gc();   // see the text length split tests
    for (const [name, splitReads] of [['as given', reads.map(u8)], ...splits(stream)]) {
        const {channel, peer} = pair(t);
        const recorder = recorderWithEvents(channel);
        if (maxInputSize !== null)
            channel.max_input_size = maxInputSize;
        channel.set_terminator_text_length(...args);
        feedUntilClosed(channel, peer, splitReads);
        recorder.waitClosed();
        flush(5);
        const what = `"${show(stream)}" ${name}`;
        assertEqual(recorder.messages.map(text), messages, what);
        recorder.assertClosedOnce();
        assertError(recorder.error, Achat.error_quark(), code, what);
        assert(recorder.error.message.includes(mention), `${what}: ${recorder.error.message}`);
        assert(!recorder.events.some(([kind, data]) => kind === 'c' && text(data).includes('EVIL')),
            `${what}: the refused frame was collected`);
        channel.close();
    }
}

test('text length: bad headers close with INVALID_FRAME, nothing of them delivered', t => {
    const netstring = [10, ':', ',', 0], chunk = [16, '\r\n', '\r\n', 0];
    const cases = [
        [netstring, '2:ok,', '-5:EVIL!,'], [netstring, '2:ok,', ' 5:EVIL!,'], [netstring, '2:ok,', '5 :EVIL!,'],
        [netstring, '2:ok,', ':EVIL,'], [netstring, '2:ok,', '5;EVIL!,'], [netstring, '2:ok,', 'a:EVIL,'],
        [netstring, '2:ok,', '000000000000000000004:EVIL,'],
        [chunk, '2\r\nok\r\n', 'g\r\nEVIL\r\n'], [chunk, '2\r\nok\r\n', '4;ext\r\nEVIL\r\n'],
        [chunk, '2\r\nok\r\n', '00000000000000004\r\nEVIL\r\n'],
        [[16, ' |sep| ', '<<end>>', 0], '2 |sep| ok<<end>>', '4 |sep|EVIL<<end>>'],
    ];
    for (const [args, good, bad] of cases)
        closesWith(t, args, [good, bad], Achat.Error.INVALID_FRAME, ['ok'], 'length header');
});

test('text length: a wrong trailer closes with INVALID_FRAME', t => {
    const cases = [
        [[10, ':', ',', 0], '2:ok,', '4:bad!;'], [[10, ':', ',', 0], '2:ok,', '4:bad!4:bad!,'],
        [[16, '\r\n', '\r\n', 0], '2\r\nok\r\n', '4\r\nbad!\n\r'], [[16, '\r\n', '\r\n', 0], '2\r\nok\r\n', '0\r\nX'],
        [[16, ' |sep| ', '<<end>>', 0], '2 |sep| ok<<end>>', '4 |sep| bad!<<end>!'],
    ];
    for (const [args, good, bad] of cases)
        closesWith(t, args, [good, bad], Achat.Error.INVALID_FRAME, ['ok'], 'trailer');
});

test('text length: over max_frame_length or past 64 bits closes with FRAME_TOO_LONG at the header (UINT64_MAX itself: INPUT_LIMIT)', t => {
    closesWith(t, [10, ':', ',', 100], [`10:${'x'.repeat(10)},100:${'y'.repeat(100)},`, `101:${'EVIL'.repeat(25)}!,`],
        Achat.Error.FRAME_TOO_LONG, ['x'.repeat(10), 'y'.repeat(100)], '101 bytes');
    closesWith(t, [16, '\r\n', '\r\n', 15], [`f\r\n${'z'.repeat(15)}\r\n`, '10\r\n'],
        Achat.Error.FRAME_TOO_LONG, ['z'.repeat(15)], '16 bytes');
    // Past 64 bits, with no limit set: too long for any frame.
    for (const header of ['18446744073709551616:', '99999999999999999999:']) {
        closesWith(t, [10, ':', ',', 0], [header], Achat.Error.FRAME_TOO_LONG, [], '18446744073709551615 bytes',
            {maxInputSize: 0});
    }
    // UINT64_MAX itself is a length, refused by max-input-size (1 MiB).
    closesWith(t, [16, '\r\n', null, 0], ['FFFFFFFFFFFFFFFF\r\n'], Achat.Error.INPUT_LIMIT, [],
        '18446744073709551615 bytes');
    closesWith(t, [10, ':', ',', 8], ['9:123456789,'], Achat.Error.FRAME_TOO_LONG, [], '9 bytes', {maxInputSize: 64});
});

test('text length: output queued before a refused header is written before the channel closes', t => {
    const {channel, peer, recorder} = pair(t);
    channel.set_terminator_text_length(10, ':', ',', 4);
    channel.connect('terminator-found', (ch, m) => ch.push_frame(m.toArray()));
    peer.write('1:a,0:,4:abcd,5:EVIL!,1:z,');
    recorder.waitClosed();
    assertError(recorder.error, Achat.error_quark(), Achat.Error.FRAME_TOO_LONG);
    peer.waitEof();
    assertEqual(text(peer.received), '1:a,0:,4:abcd,');
});

test('text length: over max-input-size closes with INPUT_LIMIT, whichever is set first', t => {
    for (const [order, maxFrame] of [['before', 1000], ['after', 1000], ['before', 0], ['after', 0]]) {
        const {channel, peer} = pair(t);
        const recorder = recorderWithEvents(channel);
        if (order === 'before')
            channel.max_input_size = 64;
        channel.set_terminator_text_length(10, ':', ',', maxFrame);
        if (order === 'after')
            channel.max_input_size = 64;
        peer.write(`64:${'k'.repeat(64)},65:${'EVIL'.repeat(17)}`);
        recorder.waitClosed();
        const what = `max-input-size set ${order}, max frame ${maxFrame}`;
        assertEqual(recorder.messages.map(text), ['k'.repeat(64)], what);
        assertError(recorder.error, Achat.error_quark(), Achat.Error.INPUT_LIMIT, what);
        assert(recorder.error.message.includes('65 bytes') && recorder.error.message.includes('64 bytes'),
            recorder.error.message);
        assert(!recorder.events.some(([kind, data]) => kind === 'c' && text(data).includes('EVIL')),
            `${what}: the refused payload was collected`);
        channel.close();
    }
});

test('text length: the peer closing mid-frame closes with TRUNCATED_FRAME; between frames, with no error', t => {
    const netstring = [10, ':', ',', 0], chunk = [16, '\r\n', '\r\n', 0];
    const cases = [
        [netstring, '4:done,', '5:12', '3 bytes before the end'],
        [netstring, '4:done,', '5:', '5 bytes before the end'],
        [netstring, '4:done,', '12', 'header'],
        [netstring, '4:done,', '5:hello', 'trailer ","'],
        [netstring, '4:done,', '0:', 'trailer ","'],
        [chunk, '4\r\ndone\r\n', '1a\r', 'header'],
        [chunk, '4\r\ndone\r\n', '2\r\nab\r', 'trailer "\\r\\n"'],
        [[10, '\r\n', null, 0], '4\r\ndone', '3\r\nab', '1 bytes before the end'],
        [netstring, '4:done,', '0:,', null],
        [chunk, '4\r\ndone\r\n', '0\r\n\r\n', null],
    ];
    for (const [args, done, tail, mention] of cases) {
        const {channel, peer, recorder} = pair(t);
        channel.set_terminator_text_length(...args);
        feed(channel, peer, done);
        feed(channel, peer, tail);
        peer.shutdownWrite();
        recorder.waitClosed();
        assertEqual(recorder.messages.map(text), mention ? ['done'] : ['done', ''], tail);
        if (mention) {
            assertError(recorder.error, Achat.error_quark(), Achat.Error.TRUNCATED_FRAME, tail);
            assert(recorder.error.message.includes(mention), `${tail}: ${recorder.error.message}`);
        } else {
            assertEqual(recorder.error, null, `${show(tail)}: error`);
        }
        recorder.assertClosedOnce();
    }
});

test('text length: refused arguments are criticals and change nothing', t => {
    const refused = [
        [[0, ':', ',', 0], /radix/], [[8, ':', ',', 0], /radix/],
        [[10, '', ',', 0], /sep_len/], [[10, '123456789', ',', 0], /sep_len/],
        [[10, 'ééééé', null, 0], /sep_len/], [[10, ':', '123456789', 0], /trailer_len/],
        [[10, '0', ',', 0], /isdigit/], [[16, 'a', ',', 0], /isxdigit/], [[16, 'F\r\n', ',', 0], /isxdigit/],
    ];
    t.expectLog('Achat', /set_terminator_text_length: assertion/, {min: refused.length});
    const {channel, peer, recorder} = pair(t);
    channel.set_terminator_text_length(10, ':', ',', 0);
    for (const [args, pattern] of refused) {
        const before = t.logs.length;
        channel.set_terminator_text_length(...args);
        const logs = t.logs.slice(before);
        assertEqual(logs.length, 1, `criticals for ${JSON.stringify(args)}`);
        assert(pattern.test(logs[0].message), `${JSON.stringify(args)}: ${logs[0].message}`);
    }
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH);
    feedAll(channel, peer, ['3:a:b,']);
    assertEqual(recorder.messages.map(text), ['a:b']);
    channel.push_frame(u8('xy'));
    peer.waitReceived(5);
    assertBytes(peer.received, '2:xy,');
    // Accepted: the longest separator and trailer, a largest maximum.
    channel.set_terminator_text_length(16, 'x'.repeat(8), 'y'.repeat(8), 0);
    channel.set_terminator_text_length(10, ':', ',', 2n ** 64n - 1n);
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.TEXT_LENGTH);
    assert(!recorder.closed, recorder.logText);
});

test('text length: a null separator throws', t => {
    const {channel} = pair(t);
    assertThrows(() => channel.set_terminator_text_length(10, null, ',', 0), /.*/);
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.NONE);
});

/* Volume: netstrings from a peer process ------------------------------------ */

const VOLUME_NETSTRINGS = 200000;
/* A GLib.Bytes and a Uint8Array per message: GJS before 1.82 refuses (and,
 * with fatal criticals, aborts on) the vfunc call when SpiderMonkey sweeps
 * incrementally (see test-volume.js). Collections forced this often keep
 * the heap below where it starts one, also on a loaded machine, where one
 * every 10,000 messages once let it start (CI-like parallel run). */
const VOLUME_GC_EVERY = System.version < 18200 ? 2000 : 10000;

/** A seeded generator (mulberry32): the peer and the test make the same stream. */
function random32(seed) {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let r = Math.imul(a ^ (a >>> 15), 1 | a);
        r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
        return (r ^ (r >>> 14)) >>> 0;
    };
}

/** n netstrings of random lengths 0 to 100, and the checksum of their payloads. */
function volumeNetstrings(n, seed) {
    const next = random32(seed);
    const chunks = [];
    let sum = 0;
    for (let k = 0; k < n; k++) {
        const payload = new Uint8Array(next() % 101);
        for (let i = 0; i < payload.length; i++)
            payload[i] = next() & 0xff;
        sum = checksumAdd(sum, payload);
        chunks.push(u8(`${payload.length}:`), payload, u8(','));
    }
    return {stream: concat(chunks), sum};
}

function checksumAdd(sum, bytes) {
    for (let j = 0; j < bytes.length; j++)
        sum = (Math.imul(sum, 31) + bytes[j]) >>> 0;
    return (Math.imul(sum, 31) + 0x100 + bytes.length) >>> 0;
}

const VolumeTextChannel = GObject.registerClass(class VolumeTextChannel extends Achat.Channel {
    _init(params) {
        super._init(params);
        this.count = 0;
        this.sum = 0;
        this.gcs = 0;
        this.closedCount = 0;
        this.closeError = null;
        this.set_terminator_text_length(10, ':', ',', 0);
    }

    vfunc_terminator_found(message) {
        this.sum = checksumAdd(this.sum, message.toArray());
        this.count++;
        if (this.count % VOLUME_GC_EVERY === 0) {
            this.gcs++;
            System.gc();
        }
    }

    vfunc_closed(error) {
        this.closedCount++;
        this.closeError = error;
    }
});

test(`text length: ${VOLUME_NETSTRINGS} netstrings of random lengths from a peer process, counted and ` +
     `checksummed in vfunc_terminator_found, System.gc() every ${VOLUME_GC_EVERY}`, t => {
    const seed = 7;
    const {stream, sum} = volumeNetstrings(VOLUME_NETSTRINGS, seed);
    // The peer process: `test-framing.js --netstring-peer N SEED ADDRESS`.
    const {connection, child} = connectPeerProcess(t, import.meta.url,
        ['--netstring-peer', String(VOLUME_NETSTRINGS), String(seed)]);

    const started = GLib.get_monotonic_time();
    const channel = new VolumeTextChannel({stream: connection});
    t.defer(() => channel.close());
    const limit = GLib.getenv('ACHAT_TEST_MEMORY_TOOL') ? 300000 : 60000;
    waitFor(() => channel.closedCount > 0, `${VOLUME_NETSTRINGS} netstrings`, limit);
    diag(`${channel.count} netstrings, ${stream.length} bytes, ${channel.gcs} forced collections, ` +
         `${((GLib.get_monotonic_time() - started) / 1e6).toFixed(2)} s`);
    assertEqual(channel.closeError, null, 'closed cleanly');
    assertEqual(channel.closedCount, 1, 'closed once');
    assertEqual(channel.count, VOLUME_NETSTRINGS, 'netstrings counted');
    assertEqual(channel.sum, sum, 'checksum');
    assertEqual(channel.get_bytes_received(), stream.length, 'bytes received');
    assertEqual(channel.gcs, VOLUME_NETSTRINGS / VOLUME_GC_EVERY, 'forced collections');
    waitFor(() => child.get_identifier() === null, 'the peer to exit', 20000);
    assert(child.get_successful(), `the peer failed (status ${child.get_status()})`);
}, {timeout: 120000});

/* ------------------------------------------------------------------------- */

if (System.programArgs[0] === '--netstring-peer') {
    const [, n, seed, address] = System.programArgs;
    writeAsPeer(address, volumeNetstrings(Number(n), Number(seed)).stream);
}
else
    run();
