// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The pull style from GJS is exact: each read frames its message when it
// asks for it, with the terminator (count, terminators, length prefix) in
// force then, however the peer's bytes were split into reads and whenever
// the previous read's callback ran; input nobody takes waits, unframed.
// The GJS side of tests/test-channel-pull.c:
//
// - the scripts of tests/data/pull-scripts.json over every split of their
//   stream, the first read before the bytes ("early") and after them
//   ("late"), in six styles: promises with set_terminator*() then
//   readMessage(); promises with readUntil()/readLine()/readBytes(); raw
//   *_async()/*_finish() callbacks, the next read started in the callback,
//   with set_terminator*() then read_message_async() and with
//   read_until/line/bytes_async(); and the same two with the next read
//   started from an idle after the callback;
// - a server that speaks first: 100 clients read its banner only after the
//   main loop ran;
// - 20,000 messages switching framing before each await, the garbage
//   collector running; for await over messages();
// - a channel with no handler and no read keeps what it received.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {messages, readBytes, readLine, readMessage, readUntil} from '../../bindings/gjs/achat.js';
import {
    PairMaker, Peer, applyFraming, assert, assertBytes, assertEqual, concat, connectionPair,
    cutsName, describeError, framingName, listenOnLoopback, loadPullScripts, pattern,
    sameBytes, show, sleep, spin, splits, text, u8, until, waitFor, waitQuietly, withTimeout,
} from './common.js';
import {test, run} from './tap.js';

const BIG = Achat.ByteOrder.BIG_ENDIAN;

/* The scripts ------------------------------------------------------------- */

const scripts = loadPullScripts();

/**
 * A promise of the next message: with calls 'set', the framing set then
 * readMessage(); with 'read-calls', readUntil(), readLine(), readBytes()
 * where they fit. framing null: the read after the last step.
 */
function readStepPromise(channel, framing, calls) {
    if (framing === null)
        return readMessage(channel);
    if (calls === 'read-calls') {
        switch (framing.kind) {
        case 'bytes':
            return readUntil(channel, framing.bytes);
        case 'line':
            return readLine(channel);
        case 'count':
            return readBytes(channel, framing.count);
        }
    }
    applyFraming(channel, framing);
    return readMessage(channel);
}

/**
 * Starts the next read with the raw *_async() call and a callback, which
 * calls the matching *_finish() and then done(message, error).
 */
function readStepRaw(channel, framing, calls, done) {
    const finisher = finish => (ch, result) => {
        let message = null, error = null;
        try {
            message = ch[finish](result);
        } catch (e) {
            error = e;
        }
        done(message, error);
    };
    if (framing !== null && calls === 'read-calls') {
        switch (framing.kind) {
        case 'bytes':
            channel.read_until_async(framing.bytes, null, finisher('read_until_finish'));
            return;
        case 'line':
            channel.read_line_async(null, finisher('read_line_finish'));
            return;
        case 'count':
            channel.read_bytes_async(framing.count, null, finisher('read_bytes_finish'));
            return;
        }
    }
    if (framing !== null)
        applyFraming(channel, framing);
    channel.read_message_async(null, finisher('read_message_finish'));
}

/** Checks a step's message; returns false (and records why) if it is wrong. */
function checkStep(state, index, message, error) {
    const step = state.script.steps[index];
    if (message === null) {
        fail(state, `read ${index} (${framingName(step.framing)}): no message (${error ? describeError(error) : 'the end'})`);
        return false;
    }
    const got = message.toArray();
    if (!sameBytes(got, step.message)) {
        fail(state, `read ${index} (${framingName(step.framing)}): got "${show(got)}", expected "${show(step.message)}"`);
        return false;
    }
    return true;
}

/** The read after the last step: the end. */
function checkEnd(state, message, error) {
    if (message !== null) {
        fail(state, `read ${state.script.steps.length}: a message ("${show(message.toArray())}") after the last one`);
        return;
    }
    state.endError = error;
    state.done = true;
}

function fail(state, why) {
    state.failure ??= why;
    state.done = true;
}

/**
 * Starts the script's reads: `next` is 'await' (an async function awaiting
 * promises), 'callback' (raw callbacks, the next read started in the
 * callback) or 'idle' (raw callbacks, the next read started from
 * GLib.idle_add() after the callback).
 */
function startReader(channel, state, next, calls) {
    const steps = state.script.steps;
    if (next === 'await') {
        (async () => {
            for (let i = 0; i < steps.length; i++) {
                state.step = i;
                let message;
                try {
                    // eslint-disable-next-line no-await-in-loop
                    message = await readStepPromise(channel, steps[i].framing, calls);
                } catch (e) {
                    fail(state, `read ${i} (${framingName(steps[i].framing)}): rejected: ${describeError(e)}`);
                    return;
                }
                if (state.done || !checkStep(state, i, message, null))
                    return;
            }
            state.step = steps.length;
            let message = null, error = null;
            try {
                message = await readMessage(channel);
            } catch (e) {
                error = e;
            }
            if (!state.done)
                checkEnd(state, message, error);
        })().catch(e => fail(state, `the reader threw: ${describeError(e)}`));
        return;
    }

    const readNext = () => {
        const index = state.step;
        const framing = index < steps.length ? steps[index].framing : null;
        readStepRaw(channel, framing, calls, (message, error) => {
            if (state.done)
                return;
            if (index === steps.length) {
                checkEnd(state, message, error);
                return;
            }
            if (!checkStep(state, index, message, error))
                return;
            state.step++;
            if (next === 'callback') {
                readNext();
            } else {
                GLib.idle_add(GLib.PRIORITY_DEFAULT_IDLE, () => {
                    if (!state.done)
                        readNext();
                    return GLib.SOURCE_REMOVE;
                });
            }
        });
    };
    readNext();
}

/**
 * Runs a script on a new channel: the peer writes the stream in pieces cut
 * at cuts (ascending). Early: the first read is started before anything is
 * written, and each piece is received by a read of its own. Late: all
 * pieces are written, the main loop running a little between them, and
 * the first read only starts afterwards. Then the peer closes. Returns
 * null, or what went wrong.
 */
function runScript(maker, script, cuts, next, calls, late) {
    const {channel, peer} = maker.pair();
    const state = {script, step: 0, done: false, failure: null, endError: null};
    const output = peer.get_output_stream();
    const length = script.stream.length;
    try {
        if (!late)
            startReader(channel, state, next, calls);
        let start = 0;
        for (const end of [...cuts, length]) {
            if (end <= start)
                continue;
            output.write_all(script.stream.subarray(start, end), null);
            if (late) {
                spin(1);
            } else if (!waitQuietly(() => channel.get_bytes_received() >= end || state.done ||
                                    channel.is_closed(), 2000)) {
                fail(state, `the channel received ${channel.get_bytes_received()} bytes, not ${end}, ` +
                    `with read ${state.step} under way`);
            }
            if (state.done)
                break;
            start = end;
        }
        if (late && !state.done) {
            spin(5);
            startReader(channel, state, next, calls);
        }
        peer.close(null);
        if (!waitQuietly(() => state.done, 2000))
            fail(state, `timed out at read ${state.step}`);
        if (state.failure)
            return state.failure;

        const rest = script.rest;
        const collected = channel.get_collected().toArray();
        if (rest.length === 0 && state.endError !== null)
            return `the end: ${describeError(state.endError)}, expected the clean end`;
        if (rest.length > 0 && !(state.endError instanceof GLib.Error &&
            state.endError.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.PARTIAL_INPUT))) {
            return `the end: ${state.endError ? describeError(state.endError) : 'clean'}, expected PARTIAL_INPUT`;
        }
        if (!sameBytes(collected, rest))
            return `the end: get_collected() is "${show(collected)}", not "${show(rest)}"`;
        if (channel.get_bytes_received() !== length)
            return `${channel.get_bytes_received()} bytes received of ${length}`;
        return null;
    } finally {
        state.done = true;
        channel.close();
        peer.close(null);
    }
}

// Every split for the promises with set_terminator*() (a) and the raw
// callbacks (c, both ways of setting the framing); (b) and (d) cut in two
// at every third byte only, besides one write and one byte per write, to
// keep the file within its time on a small machine.
const STYLES = [
    {name: 'promises, set_terminator*() + readMessage()', next: 'await', calls: 'set', every: 1},
    {name: 'promises, readUntil/readLine/readBytes', next: 'await', calls: 'read-calls', every: 3},
    {name: 'callbacks, set_terminator*() + read_message_async(), next read in the callback',
        next: 'callback', calls: 'set', every: 1},
    {name: 'callbacks, read_until/line/bytes_async(), next read in the callback',
        next: 'callback', calls: 'read-calls', every: 1},
    {name: 'callbacks, set_terminator*() + read_message_async(), next read from an idle',
        next: 'idle', calls: 'set', every: 3},
    {name: 'callbacks, read_until/line/bytes_async(), next read from an idle',
        next: 'idle', calls: 'read-calls', every: 3},
];

for (const script of scripts) {
    for (const style of STYLES) {
        test(`script ${script.name}: ${style.name}; early and late, every split`, t => {
            const maker = new PairMaker();
            t.defer(() => maker.close());
            let runs = 0;
            for (const late of [false, true]) {
                for (const cuts of splits(script.stream.length, style.every)) {
                    const failure = runScript(maker, script, cuts, style.next, style.calls, late);
                    runs++;
                    assert(failure === null, `${cutsName(cuts, script.stream.length)}, first read ${
                        late ? 'late' : 'early'}: ${failure}`);
                }
            }
            assert(runs > 4, 'the splits ran');
        });
    }
}

/* A server that speaks first ------------------------------------------------ */

const CLIENTS = 100;

/** A started Achat.Server greeting each client, then closing: stopped after the test. */
function startBannerServer(t) {
    const server = new Achat.Server();
    const address = listenOnLoopback(server);
    const state = {accepted: 0, port: address.get_port()};
    server.connect('channel-accepted', (_server, channel) => {
        state.accepted++;
        channel.push(u8('220 ready\r\n'));
        channel.close_when_done();
    });
    server.start();
    t.defer(() => {
        server.stop();
        server.close();
    });
    return state;
}

test(`banners, promises: ${CLIENTS} clients read the greeting after the main loop ran`, async t => {
    const server = startBannerServer(t);
    const clients = [];
    t.defer(() => clients.forEach(c => c.close()));
    const connecting = [];
    for (let i = 0; i < CLIENTS; i++) {
        connecting.push(new Promise((resolve, reject) => {
            Achat.Channel.connect_to_host_async(`127.0.0.1:${server.port}`, 0, null, (_source, result) => {
                try {
                    const channel = Achat.Channel.connect_to_host_finish(result);
                    clients.push(channel);
                    resolve(channel);
                } catch (e) {
                    reject(e);
                }
            });
        }));
    }
    const channels = await withTimeout(Promise.all(connecting), 'the connections');
    await until(() => server.accepted === CLIENTS, 'the server to accept them all');
    await sleep(50);   // the banners came, the server closed: nobody read yet

    const results = await withTimeout(Promise.all(channels.map(async channel => {
        channel.set_terminator(u8('\r\n'));
        const banner = await readMessage(channel);
        const end = await readMessage(channel);
        return {banner: banner === null ? null : text(banner), end};
    })), 'the banners');
    assertEqual(results.length, CLIENTS);
    results.forEach(({banner, end}, i) => {
        assertEqual(banner, '220 ready', `client ${i}'s banner`);
        assertEqual(end, null, `client ${i}'s end`);
    });
    assert(channels.every(c => c.is_closed()), 'all closed at the end');
});

test(`banners, raw callbacks: ${CLIENTS} clients read the greeting after the main loop ran`, t => {
    const server = startBannerServer(t);
    const clients = [];
    const errors = [];
    t.defer(() => clients.forEach(c => c.close()));
    for (let i = 0; i < CLIENTS; i++) {
        Achat.Channel.connect_to_host_async(`127.0.0.1:${server.port}`, 0, null, (_source, result) => {
            try {
                clients.push(Achat.Channel.connect_to_host_finish(result));
            } catch (e) {
                errors.push(e);
            }
        });
    }
    waitFor(() => clients.length + errors.length === CLIENTS, 'the connections');
    assertEqual(errors.map(describeError), []);
    waitFor(() => server.accepted === CLIENTS, 'the server to accept them all');
    spin(50);

    const results = clients.map(() => ({banner: undefined, bannerError: null, end: undefined, endError: null}));
    clients.forEach((channel, i) => {
        channel.set_terminator(u8('\r\n'));
        channel.read_message_async(null, (ch, result) => {
            try {
                const banner = ch.read_message_finish(result);
                results[i].banner = banner === null ? null : text(banner);
            } catch (e) {
                results[i].bannerError = e;
                results[i].banner = null;
            }
            // The next read, from the callback: the clean end.
            ch.read_message_async(null, (ch2, result2) => {
                try {
                    results[i].end = ch2.read_message_finish(result2);
                } catch (e) {
                    results[i].endError = e;
                    results[i].end = null;
                }
            });
        });
    });
    waitFor(() => results.every(r => r.end !== undefined), 'the banners and the ends');
    results.forEach((r, i) => {
        assertEqual(r.bannerError ? describeError(r.bannerError) : null, null, `client ${i}'s banner read`);
        assertEqual(r.banner, '220 ready', `client ${i}'s banner`);
        assertEqual(r.endError ? describeError(r.endError) : null, null, `client ${i}'s end`);
        assertEqual(r.end, null, `client ${i}'s end`);
    });
});

/* Volume --------------------------------------------------------------------- */

const PAIRS = 10000;   // a line and a frame each: 20,000 messages
const LINES = 2000;

/** The length of the frame or body after line k. */
function bodyLength(k) {
    return k % 2 === 0 ? (k * 37) % 120 : 1 + (k * 37) % 120;
}

test(`${PAIRS * 2} messages, the framing switched before each await, the GC running; for await over lines`, async t => {
    const {server, client} = connectionPair();
    const channel = new Achat.Channel({stream: server});
    const peer = new Peer(client);
    t.defer(() => {
        channel.close();
        peer.close();
    });

    // Line k is "item k LEN"; after it, for even k a frame with a 2-byte
    // big-endian length prefix, for odd k a body of LEN bytes (a count).
    const chunks = [];
    for (let k = 0; k < PAIRS; k++) {
        const length = bodyLength(k);
        chunks.push(u8(`item ${k} ${length}\n`));
        if (k % 2 === 0)
            chunks.push(Uint8Array.of(length >> 8, length & 0xff));
        chunks.push(pattern(length, k));
    }
    for (let i = 0; i < LINES; i++)
        chunks.push(u8(`plain line ${i}\n`));
    const wire = concat(chunks);
    peer.writeAsync(wire);   // in one go
    const ending = until(() => !peer.writing, 'the peer\'s write', 15000).then(() => peer.shutdownWrite());
    ending.catch(() => {});   // awaited below; not unhandled if the test fails first

    let count = 0;
    const gcEvery = 1000;
    const counted = () => {
        if (++count % gcEvery === 0)
            System.gc();
    };
    for (let k = 0; k < PAIRS; k++) {
        const length = bodyLength(k);
        let line;
        if (k % 4 < 2) {
            channel.set_terminator(u8('\n'));
            line = await readMessage(channel);   // eslint-disable-line no-await-in-loop
        } else {
            line = await readLine(channel);   // eslint-disable-line no-await-in-loop
        }
        assert(line !== null, `message ${count}: the end instead of line ${k}`);
        assertEqual(text(line), `item ${k} ${length}`, `message ${count}`);
        counted();
        const parsed = Number(text(line).split(' ')[2]);
        let body;
        if (k % 2 === 0) {
            channel.set_terminator_length_prefix(2, BIG, 0, 0);
            body = await readMessage(channel);   // eslint-disable-line no-await-in-loop
        } else if (k % 4 === 1) {
            channel.set_terminator_count(parsed);
            body = await readMessage(channel);   // eslint-disable-line no-await-in-loop
        } else {
            body = await readBytes(channel, parsed);   // eslint-disable-line no-await-in-loop
        }
        assert(body !== null, `message ${count}: the end instead of body ${k}`);
        assertBytes(body.toArray(), pattern(length, k), `message ${count} (body ${k})`);
        counted();
    }
    assertEqual(count, PAIRS * 2);

    channel.set_terminator(u8('\n'));
    const lines = [];
    for await (const line of messages(channel)) {
        lines.push(text(line));
        if (lines.length % gcEvery === 0)
            System.gc();
    }
    await ending;
    assertEqual(lines.length, LINES, 'lines read by for await');
    lines.forEach((line, i) => assertEqual(line, `plain line ${i}`));
    assert(channel.is_closed(), 'closed at the end');
    assertEqual(channel.get_bytes_received(), wire.length, 'bytes received');
}, {timeout: 60000});

/* Nothing lost without a listener ------------------------------------------- */

test('a channel with no handler and no read keeps what came; a terminator-found handler connected later gets it', t => {
    const {server, client} = connectionPair();
    const channel = new Achat.Channel({stream: server});
    const peer = new Peer(client);
    t.defer(() => {
        channel.close();
        peer.close();
    });

    peer.write('hello\nworld\n');
    peer.close();
    spin(50);
    assert(!channel.is_closed(), 'the channel closed with nobody to take its input');

    channel.set_terminator(u8('\n'));
    const log = [];
    let closedError;
    channel.connect('terminator-found', (_ch, message) => log.push(`T(${text(message)})`));
    channel.connect('closed', (_ch, error) => {
        log.push('closed');
        closedError = error;
    });
    waitFor(() => log.includes('closed'), 'the channel to close');
    assertEqual(log, ['T(hello)', 'T(world)', 'closed']);
    assertEqual(closedError, null, 'closed cleanly');
    assert(channel.is_closed(), 'is_closed()');
    assertEqual(channel.get_bytes_received(), 12);
});

run();
