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
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {
    Recorder, assert, assertBytes, assertEqual, assertError, channelPair, concat, feed, flush,
    show, spin, text, u8, waitFor,
} from './common.js';
import {test, run} from './tap.js';

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

run();
