// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Whole-read delivery from GJS: a subclass overriding
// vfunc_messages_found(data, bounds) is handed every whole message of a
// read in one call, and returns how many it took; the rest is framed again
// under the framing in force then. The GJS side of
// tests/test-channel-whole.c:
//
// - the scripts of tests/data/pull-scripts.json over every split of their
//   stream (one write, cut in two at every byte, one byte per write),
//   taking every message up to a framing change, one message per call, and
//   chaining up to the default (terminator-found per message, through
//   vfunc_terminator_found);
// - pausing input after message k (resumed from a timeout), and switching
//   to reads of the pull style after message k (raw callbacks and
//   promises), for every k;
// - random protocols (a framing change at nearly every message), short
//   messages and messages of 16 to 80 KiB, random cuts, ways of taking,
//   pauses and reads (promises only where they are exact: see
//   WholeChannel.pullPromises());
// - batches: lines of one write in one call, exactly what the call is
//   shown (bounds, separators, length headers); one byte per write, one
//   message per call; taking one per call hands over what is left;
// - a copy of data (toArray()) kept across calls and garbage collections;
// - a million short lines from a peer process, counted and checksummed in
//   the vfunc, the garbage collector forced every 100,000 messages;
// - a return of 0 or more than there are: a critical, every message taken
//   once.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {readMessage} from '../../bindings/gjs/achat.js';
import {
    PairMaker, applyFraming, assert, assertBytes, assertEqual, channelPair, concat, connectPeerProcess,
    cutsName, describeError, feed, framingName, loadPullScripts, sameBytes, sameFraming, show, splits,
    spin, text, u8, waitFor, waitQuietly, writeAsPeer,
} from './common.js';
import {diag, test, run} from './tap.js';

/* Under a memory tool everything is several times slower. */
const MEMORY_TOOL = GLib.getenv('ACHAT_TEST_MEMORY_TOOL');

/* GJS before 1.82 refuses every callback into JS (vfuncs included) between
 * the slices of an incremental garbage collection ("Attempting to run a JS
 * callback during garbage collection"; see test-volume.js): the call is
 * not made (vfunc_messages_found "returns" 0, its messages are lost). A
 * full collection forced now and then, from the handler or between runs,
 * keeps the engine from starting one of its own: every 100,000 messages
 * (counted in messages, not calls: the garbage is made per message), every
 * 100 script runs, and between random rounds (each long one makes
 * megabytes of garbage: without it a few hundred rounds hit it). */
const GC_EVERY = 100000;

/* A channel that follows a script ------------------------------------------ */

/** How a WholeChannel takes what vfunc_messages_found is handed. */
const Taking = {
    UNTIL_CHANGE: 'up to a framing change',   // every message, up to one that changes the framing
    ONE: 'one per call',                      // one message per call, whatever was handed
    CHAIN_UP: 'chaining up',                  // the default: vfunc_terminator_found, one at a time
    PLAIN: 'plain bytes',                     // the default, vfunc_message_found overridden
};

/** Bytes as show() prints them, cut after 40 bytes. */
function brief(bytes) {
    return bytes.length > 40 ? `${show(bytes.subarray(0, 40))}... (${bytes.length} bytes)` : show(bytes);
}

/**
 * Checks each message against its script, sets the next step's framing
 * after it (a count again after each counted message: a count is spent by
 * its message), and pauses input or starts reads of the pull style after
 * the chosen message.
 */
const WholeChannel = GObject.registerClass(class WholeChannel extends Achat.Channel {
    /**
     * @param {object} script a script of pull-scripts.json
     * @param {string} taking a value of Taking
     * @param {object} [options] `pauseAt`: pause after this message (0:
     *   never), resumed 2 ms later; `pullAt`: after this message, the rest
     *   by reads of the pull style (0: never); `pull`: 'callback' (raw
     *   read_message_async(), the next started in the callback) or
     *   'promise' (await readMessage())
     */
    setUp(script, taking, {pauseAt = 0, pullAt = 0, pull = 'callback'} = {}) {
        this.script = script;
        this.taking = taking;
        this.pauseAt = pauseAt;
        this.pullAt = pullAt;
        this.pull = pull;
        this.step = 0;             // the next message of the script
        this.calls = 0;
        this.most = 0;             // the most messages handed at once
        this.failure = null;
        this.closedCount = 0;
        this.closeError = null;
        this.collectedAtClose = null;
        this.ended = false;        // the read after the last message returned
        this.endError = null;
        this.timeouts = new Set();
        applyFraming(this, script.steps[0].framing);
    }

    get done() {
        return this.failure !== null || this.closedCount > 0 || this.ended;
    }

    fail(why) {
        this.failure ??= why;
    }

    /** One message of the script; returns whether the framing or the input's state changed. */
    take(message) {
        if (this.failure !== null)
            return false;
        const steps = this.script.steps;
        if (this.step >= steps.length) {
            this.fail(`message ${this.step} ("${brief(message)}"): after the last one`);
            return false;
        }
        const step = steps[this.step];
        if (!sameBytes(message, step.message)) {
            this.fail(`message ${this.step} (${framingName(step.framing)}) is "${brief(message)}", ` +
                `not "${brief(step.message)}"`);
            return false;
        }
        this.step++;
        let changed = false;
        if (this.step < steps.length) {
            const next = steps[this.step].framing;
            if (!sameFraming(next, step.framing) || step.framing.kind === 'count') {
                applyFraming(this, next);
                changed = true;
            }
        }
        if (this.step === this.pauseAt) {
            this.pause_input();
            const id = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 2, () => {
                this.timeouts.delete(id);
                this.resume_input();
                return GLib.SOURCE_REMOVE;
            });
            this.timeouts.add(id);
            changed = true;
        }
        if (this.step === this.pullAt) {
            if (this.pull === 'promise')
                this.pullPromises();
            else
                this.pullCallback();
            changed = true;
        }
        return changed;
    }

    vfunc_messages_found(data, bounds) {
        this.calls++;
        const n = bounds.length / 2;
        this.most = Math.max(this.most, n);
        if (this.is_input_paused())
            this.fail(`message ${this.step}: handed over while input is paused`);
        // A copy: GJS does not reference data, which lives for this call only.
        const bytes = data.toArray();
        if (bounds.length < 2 || bounds.length % 2 !== 0)
            this.fail(`${bounds.length} bounds`);
        for (let i = 0; i < bounds.length; i++) {
            if (!Number.isInteger(bounds[i]) || bounds[i] > bytes.length || (i > 0 && bounds[i] < bounds[i - 1]))
                this.fail(`bound ${i} of [${bounds}] out of order or past the ${bytes.length} bytes`);
        }
        if (this.failure !== null)
            return Math.max(n, 1);

        if (this.taking === Taking.CHAIN_UP || this.taking === Taking.PLAIN)
            return super.vfunc_messages_found(data, bounds);
        for (let i = 0; i < n; i++) {
            if (this.take(bytes.subarray(bounds[2 * i], bounds[2 * i + 1])) || this.taking === Taking.ONE)
                return i + 1;
        }
        return n;
    }

    vfunc_message_found(data) {
        // Plain bytes, a copy: the default emits terminator-found.
        if (!(data instanceof Uint8Array))
            this.fail(`vfunc_message_found given ${data}`);
        if (this.taking !== Taking.PLAIN) {
            super.vfunc_message_found(data);
            return;
        }
        if (this.is_input_paused())
            this.fail(`message ${this.step}: handed over while input is paused`);
        this.take(data);
    }

    vfunc_terminator_found(message) {
        // Only the default message_found emits it (chaining up).
        if (this.taking !== Taking.CHAIN_UP)
            this.fail(`terminator-found emitted, taking ${this.taking}`);
        if (this.is_input_paused())
            this.fail(`message ${this.step}: terminator-found while input is paused`);
        this.take(message.toArray());
    }

    vfunc_closed(error) {
        this.closedCount++;
        this.closeError = error;
        this.collectedAtClose = this.get_collected().toArray();
    }

    /** The read after the last message: the end, or PARTIAL_INPUT. */
    end(message, error) {
        if (message !== null)
            this.fail(`read after the last message: "${brief(message.toArray())}"`);
        this.endError = error;
        this.ended = true;
    }

    /** The rest by raw read_message_async() calls, the next started in the callback. */
    pullCallback() {
        this.read_message_async(null, (channel, result) => {
            let message = null, error = null;
            try {
                message = channel.read_message_finish(result);
            } catch (e) {
                error = e;
            }
            if (this.failure !== null || this.ended)
                return;
            if (this.step >= this.script.steps.length) {
                this.end(message, error);
                return;
            }
            if (message === null) {
                this.fail(`read ${this.step}: no message (${error ? describeError(error) : 'the end'})`);
                return;
            }
            this.take(message.toArray());
            if (this.failure === null)
                this.pullCallback();
        });
    }

    /**
     * The rest by await readMessage() (the promise of read_message_async()).
     *
     * Only where the rest came in the read that started it: each message
     * goes to the pending read, else to the handler (this class's
     * messages_found), and an await resumes after the read's callback
     * returned, once the main loop runs promise jobs. When a read started
     * in an earlier main loop iteration completes, the engine goes on
     * framing what the same socket read brought with no read pending, and
     * hands the next message to vfunc_messages_found before the await
     * that would start the next read has resumed. (Within the iteration
     * that started the read, GTask defers the callback and the engine
     * holds the input until it ran, so one write is exact.) Raw callbacks
     * (pullCallback()) start the next read in time at every split.
     */
    async pullPromises() {
        try {
            while (this.step < this.script.steps.length && this.failure === null) {
                // eslint-disable-next-line no-await-in-loop
                const message = await readMessage(this);
                if (message === null) {
                    this.fail(`read ${this.step}: the end`);
                    return;
                }
                this.take(message.toArray());
            }
            if (this.failure !== null)
                return;
            let message = null, error = null;
            try {
                message = await readMessage(this);
            } catch (e) {
                error = e;
            }
            this.end(message, error);
        } catch (e) {
            this.fail(`read ${this.step}: rejected: ${describeError(e)}`);
        }
    }

    clearTimeouts() {
        for (const id of this.timeouts)
            GLib.source_remove(id);
        this.timeouts.clear();
    }
});

function isPartialInput(error) {
    return error instanceof GLib.Error && error.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.PARTIAL_INPUT);
}

/* The most bytes written at once: a loopback socket takes them all even
 * when nobody reads. */
const WRITE_MAX = 32 * 1024;

/**
 * Runs a script through a WholeChannel, the stream written in pieces cut
 * at cuts, each piece read before the next is written; then the peer
 * closes. Returns {failure (null or what went wrong), calls, most}.
 */
function runWhole(maker, script, cuts, taking, options = {}) {
    const {channel, peer} = maker.pair(WholeChannel);
    channel.setUp(script, taking, options);
    const output = peer.get_output_stream();
    const length = script.stream.length;
    const steps = script.steps.length;
    const check = () => {
        let start = 0;
        for (const end of [...cuts, length]) {
            if (end <= start)
                continue;
            // A long piece in writes the socket takes without blocking.
            for (let from = start; from < end; from += WRITE_MAX) {
                const to = Math.min(end, from + WRITE_MAX);
                output.write_all(script.stream.subarray(from, to), null);
                if (!waitQuietly(() => channel.get_bytes_received() >= to || channel.done, 5000))
                    return `the channel received ${channel.get_bytes_received()} bytes, not ${to}, at message ${channel.step}`;
            }
            start = end;
        }
        peer.close(null);
        // With reads of the pull style, the end is read after the last message.
        if (!waitQuietly(() => channel.done && (!options.pullAt || channel.ended || channel.failure !== null), 2000))
            return `timed out at message ${channel.step} of ${steps}`;
        if (channel.failure !== null)
            return channel.failure;
        if (channel.step !== steps) {
            return `${channel.step} messages of ${steps} (closed: ${
                channel.closeError ? describeError(channel.closeError) : 'no error'})`;
        }
        // Whatever came after the last message stays unframed: the end of
        // the stream sees it as collected input (a read, PARTIAL_INPUT).
        if (channel.ended) {
            if (script.rest.length === 0 && channel.endError !== null)
                return `the end: ${describeError(channel.endError)}, expected the clean end`;
            if (script.rest.length > 0 && !isPartialInput(channel.endError))
                return `the end: ${channel.endError ? describeError(channel.endError) : 'clean'}, expected PARTIAL_INPUT`;
            if (!sameBytes(channel.get_collected().toArray(), script.rest))
                return `the end: get_collected() is "${brief(channel.get_collected().toArray())}", not "${brief(script.rest)}"`;
        } else {
            if (!waitQuietly(() => channel.closedCount > 0, 2000))
                return 'not closed after the end of the stream';
            if (script.rest.length === 0 && channel.closeError !== null)
                return `closed: ${describeError(channel.closeError)}, expected a clean close`;
            if (!sameBytes(channel.collectedAtClose, script.rest))
                return `closed with "${brief(channel.collectedAtClose)}" collected, not "${brief(script.rest)}"`;
        }
        if (channel.get_bytes_received() !== length)
            return `${channel.get_bytes_received()} bytes received of ${length}`;
        return null;
    };
    try {
        return {failure: check(), calls: channel.calls, most: channel.most};
    } finally {
        channel.close();
        channel.clearTimeouts();
        peer.close(null);
    }
}

let runs = 0;

function assertRun(maker, script, cuts, taking, options = {}) {
    if (++runs % 100 === 0)
        System.gc();   // see GC_EVERY, at the top
    const {failure} = runWhole(maker, script, cuts, taking, options);
    if (failure !== null) {
        const how = [taking];
        if (options.pauseAt)
            how.push(`paused after message ${options.pauseAt}`);
        if (options.pullAt)
            how.push(`reads (${options.pull ?? 'callback'}) after message ${options.pullAt}`);
        assert(false, `${cutsName(cuts, script.stream.length)}, ${how.join(', ')}: ${failure}`);
    }
}

/* The scripts ------------------------------------------------------------- */

const scripts = loadPullScripts();

for (const script of scripts) {
    for (const taking of Object.values(Taking)) {
        test(`script ${script.name}: taking ${taking}, every split`, t => {
            const maker = new PairMaker();
            t.defer(() => maker.close());
            const all = splits(script.stream.length);
            runs = 0;
            for (const cuts of all)
                assertRun(maker, script, cuts, taking);
            assertEqual(runs, script.stream.length + 1, 'splits run');
        });
    }

    test(`script ${script.name}: paused after each message, or reads of the pull style after it`, t => {
        const maker = new PairMaker();
        t.defer(() => maker.close());
        const every3 = splits(script.stream.length, 3).slice(1, -1);
        runs = 0;
        for (let at = 1; at < script.steps.length; at++) {
            for (const taking of [Taking.UNTIL_CHANGE, Taking.CHAIN_UP, Taking.PLAIN]) {
                assertRun(maker, script, [], taking, {pauseAt: at});
                assertRun(maker, script, [], taking, {pullAt: at, pull: 'callback'});
                assertRun(maker, script, [], taking, {pullAt: at, pull: 'promise'});
            }
            assertRun(maker, script, [], Taking.ONE, {pauseAt: at});
            assertRun(maker, script, [], Taking.ONE, {pullAt: at, pull: 'promise'});
            // And cut in two at every third byte.
            for (const cuts of every3) {
                assertRun(maker, script, cuts, Taking.UNTIL_CHANGE, {pauseAt: at});
                assertRun(maker, script, cuts, Taking.UNTIL_CHANGE, {pullAt: at, pull: 'callback'});
            }
        }
        diag(`${runs} runs`);
        assert(runs >= 8 * (script.steps.length - 1), 'the runs ran');
    });
}

/* Random protocols -------------------------------------------------------- */

/** A small seeded generator (mulberry32): the same runs every time. */
function generator(seed) {
    let state = seed >>> 0;
    const next = () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let z = state;
        z = Math.imul(z ^ (z >>> 15), z | 1);
        z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
        return ((z ^ (z >>> 14)) >>> 0) / 4294967296;
    };
    /** An integer in [low, high). */
    next.range = (low, high) => low + Math.floor(next() * (high - low));
    next.boolean = () => next() < 0.5;
    return next;
}

const RANDOM_TERMINATORS = ['\n', '\r\n', '|', '#$#'].map(u8);

/**
 * A random script, as tests/test-scripts.c makes them: up to 8 messages,
 * each of a random framing (a terminator of several, either line ending,
 * a count, a 2-byte length prefix), so the framing changes at nearly every
 * message. With `long`, now and then a message of 16 to 80 KiB (past the
 * lengths handed out as slices, read in place when counted, over several
 * reads).
 */
function randomScript(rand, {long = false} = {}) {
    const steps = [];
    const chunks = [];
    const n = rand.range(1, 9);
    for (let i = 0; i < n; i++) {
        const kind = rand.range(0, 4);
        let length = rand.range(0, 24);
        if (long && rand.range(0, 4) === 0)
            length = rand.range(16 * 1024, kind === 3 ? 65536 : 80 * 1024);
        const message = new Uint8Array(kind === 2 && length === 0 ? 1 : length);
        for (let j = 0; j < message.length; j++)   // counted: any byte, terminators' included
            message[j] = kind >= 2 ? rand.range(0, 256) : 'abcxyz'.charCodeAt(rand.range(0, 6));
        let framing;
        switch (kind) {
        case 0:
            framing = {kind: 'bytes', bytes: RANDOM_TERMINATORS[rand.range(0, RANDOM_TERMINATORS.length)]};
            chunks.push(message, framing.bytes);
            break;
        case 1:
            framing = {kind: 'line'};
            chunks.push(message, u8(rand.boolean() ? '\r\n' : '\n'));
            break;
        case 2:
            framing = {kind: 'count', count: message.length};
            chunks.push(message);
            break;
        default:
            framing = {kind: 'length16'};
            chunks.push(Uint8Array.of(message.length >> 8, message.length & 0xff), message);
            break;
        }
        steps.push({framing, message});
    }
    return {name: 'random', stream: concat(chunks), steps, rest: new Uint8Array()};
}

/** Runs rounds of random scripts: random cuts, way of taking, pause and reads after a random message. */
function randomRounds(seed, rounds, options = {}) {
    const rand = generator(seed);
    const maker = new PairMaker();
    try {
        for (let round = 0; round < rounds; round++) {
            // Long messages make garbage fast: see GC_EVERY, at the top.
            if (round % (options.long ? 1 : 20) === 0)
                System.gc();
            const script = randomScript(rand, options);
            const length = script.stream.length;
            const cuts = [];
            for (let i = rand.range(0, 8); i > 0; i--)
                cuts.push(rand.range(1, Math.max(2, length)));
            cuts.sort((a, b) => a - b);
            const steps = script.steps.length;
            const taking = Object.values(Taking)[rand.range(0, 3)];
            const pauseAt = rand.boolean() ? rand.range(0, steps) : 0;
            const pullAt = rand.boolean() ? rand.range(0, steps) : 0;
            // Promises only when the stream comes in one read and is
            // framed in the main loop iteration that started the reads
            // (not resumed later): see pullPromises().
            const pull = cuts.length === 0 && length <= WRITE_MAX && pauseAt === 0 && rand.boolean()
                ? 'promise' : 'callback';
            const {failure} = runWhole(maker, script, cuts, taking, {pauseAt, pullAt, pull});
            assert(failure === null, `seed ${seed}, round ${round} (${steps} messages: ${
                script.steps.map(s => `${framingName(s.framing)} ${s.message.length}`).join(', ')}; ${
                cutsName(cuts, length)}, taking ${taking}, pause at ${pauseAt}, reads (${pull}) at ${pullAt}): ${failure}`);
        }
    } finally {
        maker.close();
    }
}

const RANDOM_SEED = 0x5eed;
const RANDOM_ROUNDS = MEMORY_TOOL ? 100 : 400;
const LONG_ROUNDS = MEMORY_TOOL ? 20 : 60;

test(`random protocols, ${RANDOM_ROUNDS} rounds: random cuts, ways of taking, pauses and reads`, () => {
    randomRounds(RANDOM_SEED, RANDOM_ROUNDS);
});

test(`random protocols with messages of 16 to 80 KiB, ${LONG_ROUNDS} rounds`, () => {
    randomRounds(RANDOM_SEED + 1, LONG_ROUNDS, {long: true});
});

/* Batches ----------------------------------------------------------------- */

/** Records each call (a copy of data and the bounds) and takes `take(n, call)` of them. */
const ShownChannel = GObject.registerClass(class ShownChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.calls = [];
        this.take = n => n;
    }

    vfunc_messages_found(data, bounds) {
        const call = {data: data.toArray(), bounds: [...bounds]};
        this.calls.push(call);
        return this.take(bounds.length / 2, call);
    }

    /** The messages of every call, as text, taken or not. */
    messagesOf(call) {
        const out = [];
        for (let i = 0; i < call.bounds.length; i += 2)
            out.push(text(call.data.subarray(call.bounds[i], call.bounds[i + 1])));
        return out;
    }
});

const LINES = 'a\nbb\n\nccc\nlast\n';

test('batches: 5 lines of one write in one call; one byte per write, one message per call', t => {
    {
        const {channel, peer} = channelPair(t, {type: ShownChannel, terminator: '\n', record: false});
        feed(channel, peer, LINES);
        spin(20);
        assertEqual(channel.calls.length, 1, 'calls');
        const [call] = channel.calls;
        // From the first message's start through the last terminator.
        assertEqual(call.bounds, [0, 1, 2, 4, 5, 5, 6, 9, 10, 14], 'bounds');
        assertBytes(call.data, u8(LINES), 'data');
        assertEqual(channel.messagesOf(call), ['a', 'bb', '', 'ccc', 'last']);
    }
    {
        const {channel, peer} = channelPair(t, {type: ShownChannel, terminator: '\n', record: false, nodelay: true});
        for (const byte of u8(LINES))
            feed(channel, peer, [byte]);
        spin(20);
        assertEqual(channel.calls.length, 5, 'calls, one byte per write');
        assertEqual(channel.calls.map(c => c.bounds), [[0, 1], [0, 2], [0, 0], [0, 3], [0, 4]], 'bounds');
        // A message that began in an earlier read arrives alone: data is
        // the message. The empty one is whole in its read (the byte "\n"):
        // data is that read, through the terminator, as for a batch.
        assertEqual(channel.calls.map(c => text(c.data)), ['a', 'bb', '\n', 'ccc', 'last'], 'data');
    }
});

test('batches: taking one per call, each call hands over messages from the next one on', t => {
    const {channel, peer} = channelPair(t, {type: ShownChannel, terminator: '\n', record: false});
    channel.take = () => 1;
    feed(channel, peer, LINES);
    waitFor(() => channel.calls.length >= 5, '5 calls');
    spin(20);
    const lines = ['a', 'bb', '', 'ccc', 'last'];
    assertEqual(channel.calls.length, 5, 'calls');
    assertEqual(channel.calls[0].bounds.length / 2, 5, 'messages of the first call');
    // How many are framed ahead adapts to how many the handler took last
    // time (1 here): the later calls are handed fewer than what is left,
    // but always the messages that follow the one taken, in order.
    channel.calls.forEach((call, i) => {
        assertEqual(channel.messagesOf(call), lines.slice(i, i + call.bounds.length / 2), `call ${i}'s messages`);
        assert(call.bounds[0] === 0, `call ${i}'s data starts at its first message`);
    });
    diag(`messages per call: ${channel.calls.map(c => c.bounds.length / 2)}`);
});

test('what one call is shown: the separators between messages (terminators, length headers)', t => {
    {
        const {channel, peer} = channelPair(t, {type: ShownChannel, record: false});
        channel.set_terminators(['\r\n', '\n', '|']);
        feed(channel, peer, 'one\r\ntwo\nthree|rest');
        spin(20);
        assertEqual(channel.calls.length, 1, 'calls');
        assertEqual(channel.calls[0].bounds, [0, 3, 5, 8, 9, 14], 'bounds');
        assertBytes(channel.calls[0].data, u8('one\r\ntwo\nthree|'), 'data');
        // "rest" is not a message yet: collected input.
        assertBytes(channel.get_collected().toArray(), u8('rest'), 'collected');
    }
    {
        const {channel, peer} = channelPair(t, {type: ShownChannel, record: false});
        channel.set_terminator_length_prefix(1, Achat.ByteOrder.BIG_ENDIAN, 0, 0);
        feed(channel, peer, Uint8Array.of(3, 0x61, 0x62, 0x63, 0, 2, 0x64, 0x65, 5, 0x61, 0x62, 0x63));
        spin(20);
        assertEqual(channel.calls.length, 1, 'calls');
        assertEqual(channel.calls[0].bounds, [0, 3, 4, 4, 5, 7], 'bounds');
        assertBytes(channel.calls[0].data, Uint8Array.of(0x61, 0x62, 0x63, 0, 2, 0x64, 0x65), 'data');
    }
});

test('with vfunc_messages_found overridden, terminator-found handlers are not called', t => {
    const {channel, peer} = channelPair(t, {type: ShownChannel, terminator: '\n', record: false});
    const emitted = [];
    channel.connect('terminator-found', (_ch, message) => emitted.push(text(message)));
    feed(channel, peer, 'x\ny\n');
    spin(20);
    assertEqual(channel.calls.length, 1, 'calls');
    assertEqual(channel.messagesOf(channel.calls[0]), ['x', 'y']);
    assertEqual(emitted, [], 'terminator-found');
});

/* Copies ------------------------------------------------------------------ */

const ROUNDS = 60;

/**
 * The 5 lines of round r, the same lengths every round, other bytes; every
 * tenth round 5 lines of 4,000 bytes (a batch of 20,000 bytes, past the
 * length the channel hands out as a slice of its read buffer).
 */
function roundLines(r) {
    const letter = String.fromCharCode(0x41 + r % 26);
    const digit = String(r % 10);
    if (r % 10 === 9)
        return [0, 1, 2, 3, 4].map(i => `${i}${letter}${digit}`.repeat(1000).slice(0, 4000));
    return [`${letter}${digit}`, `${digit}${letter}${letter}`, `r${String(r).padStart(3, '0')}`,
        letter.repeat(7), `${digit}.${letter}`];
}

test(`a copy of data (toArray()) kept over ${ROUNDS} reads and garbage collections stays right`, t => {
    const kept = [];
    const KeepingChannel = GObject.registerClass(class KeepingChannel extends Achat.Channel {
        vfunc_messages_found(data, bounds) {
            const copy = data.toArray();
            const messages = [];
            for (let i = 0; i < bounds.length; i += 2)
                messages.push(copy.subarray(bounds[i], bounds[i + 1]));
            kept.push({copy, bounds: [...bounds], messages});
            if (kept.length % 7 === 0)
                System.gc();   // in the call too, the copy made
            return bounds.length / 2;
        }
    });
    const {channel, peer} = channelPair(t, {type: KeepingChannel, terminator: '\n', record: false});
    const written = [];
    for (let r = 0; r < ROUNDS; r++) {
        const lines = roundLines(r);
        written.push(lines);
        // Every read lands at the same place of the read buffer: a view of
        // it would show the next round's bytes.
        feed(channel, peer, `${lines.join('\n')}\n`);
        System.gc();
    }
    spin(20);
    System.gc();
    assertEqual(kept.length, ROUNDS, 'calls');
    kept.forEach((call, r) => {
        const lines = written[r];
        assertBytes(call.copy, u8(`${lines.join('\n')}\n`), `round ${r}'s copy`);
        assertEqual(call.messages.map(m => text(m)), lines, `round ${r}'s messages`);
    });
});

/* Volume ------------------------------------------------------------------- */

const VOLUME = MEMORY_TOOL ? 200000 : 1000000;

/** Line k of the volume stream, without its "\n": short, of 1 to 7 bytes. */
function volumeLine(k) {
    return String(k);
}

/** The stream of n volume lines. */
function volumeStream(n) {
    const chunks = [];
    let pending = [];
    for (let k = 0; k < n; k++) {
        pending.push(volumeLine(k));
        if (pending.length === 10000) {
            chunks.push(u8(`${pending.join('\n')}\n`));
            pending = [];
        }
    }
    if (pending.length > 0)
        chunks.push(u8(`${pending.join('\n')}\n`));
    return concat(chunks);
}

/** A running checksum over messages: their bytes, then a mark after each. */
function checksumAdd(sum, bytes, start, end) {
    for (let j = start; j < end; j++)
        sum = (Math.imul(sum, 31) + bytes[j]) >>> 0;
    return (Math.imul(sum, 31) + 0x100) >>> 0;
}

const VolumeChannel = GObject.registerClass(class VolumeChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.count = 0;
        this.calls = 0;
        this.sum = 0;
        this.wrong = null;
        this.closedCount = 0;
        this.closeError = null;
        this.gcs = 0;
        this.set_terminator(u8('\n'));
    }

    vfunc_messages_found(data, bounds) {
        const bytes = data.toArray();
        const n = bounds.length / 2;
        const before = this.count;
        let sum = this.sum;
        this.calls++;
        for (let i = 0; i < n; i++) {
            const start = bounds[2 * i], end = bounds[2 * i + 1];
            // Line k is k in decimal.
            let value = 0;
            for (let j = start; j < end; j++)
                value = value * 10 + bytes[j] - 0x30;
            if (this.wrong === null && (value !== before + i || end - start !== volumeLine(before + i).length))
                this.wrong = `message ${before + i} is "${show(bytes.subarray(start, end))}"`;
            sum = checksumAdd(sum, bytes, start, end);
        }
        this.sum = sum;
        this.count += n;
        if (Math.floor(this.count / GC_EVERY) > Math.floor(before / GC_EVERY)) {
            this.gcs++;
            System.gc();
        }
        return n;
    }

    vfunc_closed(error) {
        this.closedCount++;
        this.closeError = error;
    }
});

test(`${VOLUME} short lines from a peer process, counted and checksummed in vfunc_messages_found, ` +
     `the garbage collector forced every ${GC_EVERY} messages`, t => {
    const stream = volumeStream(VOLUME);
    let expectedSum = 0;
    for (let k = 0, pos = 0; k < VOLUME; k++) {
        const length = volumeLine(k).length;
        expectedSum = checksumAdd(expectedSum, stream, pos, pos + length);
        pos += length + 1;
    }

    // The peer, in a process of its own (`test-whole.js volume-peer LINES
    // ADDRESS`).
    const {connection, child} = connectPeerProcess(t, import.meta.url, ['volume-peer', String(VOLUME)]);

    const started = GLib.get_monotonic_time();
    const channel = new VolumeChannel({stream: connection});
    t.defer(() => channel.close());
    const limit = MEMORY_TOOL ? 200000 : 60000;
    waitFor(() => channel.closedCount > 0 || channel.wrong !== null, `${VOLUME} lines`, limit);
    const seconds = (GLib.get_monotonic_time() - started) / 1e6;
    diag(`${channel.count} messages in ${channel.calls} calls (${(channel.count / channel.calls).toFixed(1)} ` +
         `a call), ${channel.gcs} forced collections, ${seconds.toFixed(2)} s`);

    assertEqual(channel.wrong, null, 'a wrong message');
    assertEqual(channel.count, VOLUME, 'messages counted');
    assertEqual(channel.sum, expectedSum, 'checksum');
    assertEqual(channel.closedCount, 1, 'closed once');
    assertEqual(channel.closeError, null, 'closed cleanly');
    assertEqual(channel.get_bytes_received(), stream.length, 'bytes received');
    assertEqual(channel.gcs, Math.floor(VOLUME / GC_EVERY), 'forced collections');
    // Whole reads: far fewer calls than messages.
    assert(channel.calls * 10 < channel.count, `${channel.calls} calls for ${channel.count} messages`);
    waitFor(() => child.get_identifier() === null, 'the peer to exit', 20000);
    assert(child.get_successful(), `the peer failed (status ${child.get_status()})`);
});

/* Wrong returns ------------------------------------------------------------ */

/** Returns what `answer(n)` says, once; then takes all; records every message. */
const WrongChannel = GObject.registerClass(class WrongChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.answer = null;
        this.messages = [];
        this.counts = [];
        this.set_terminator(u8('\n'));
    }

    vfunc_messages_found(data, bounds) {
        const bytes = data.toArray();
        const n = bounds.length / 2;
        this.counts.push(n);
        for (let i = 0; i < n; i++)
            this.messages.push(text(bytes.subarray(bounds[2 * i], bounds[2 * i + 1])));
        if (this.answer !== null) {
            const answer = this.answer(n);
            this.answer = null;
            return answer;
        }
        return n;
    }
});

for (const [name, answer, pattern] of [
    ['0', () => 0, /messages_found returned 0 for 5 messages: it must return how many it took, from 1 to 5/],
    ['one more than there are', n => n + 1, /messages_found returned 6 for 5 messages/],
]) {
    test(`returning ${name}: a critical, every message counted as taken, none twice`, t => {
        t.expectLog('Achat', pattern);
        const {channel, peer} = channelPair(t, {type: WrongChannel, record: false});
        channel.answer = answer;
        feed(channel, peer, 'a\nb\nc\nd\ne\n');
        feed(channel, peer, 'f\ng\n');
        spin(20);
        assertEqual(channel.messages, ['a', 'b', 'c', 'd', 'e', 'f', 'g'], 'messages');
        assertEqual(channel.counts, [5, 2], 'messages per call');
        assertEqual(t.logs.filter(l => pattern.test(l.message)).length, 1, 'criticals');
    });
}

/* The guide's examples (docs/tutorial.md) ------------------------------- */

// snippet-begin whole-reads
const LineCounter = GObject.registerClass(class LineCounter extends Achat.Channel {
    _init(params) {
        super._init(params);
        this.set_terminator(new TextEncoder().encode('\n'));
        this.lines = 0;
        this.body = null;
        this.inBody = false;
    }

    vfunc_messages_found(data, bounds) {
        const bytes = data.toArray();    // a copy, to keep (data lives for this call)
        for (let i = 0; i < bounds.length; i += 2) {
            const line = bytes.subarray(bounds[i], bounds[i + 1]);
            const text = new TextDecoder().decode(line);
            if (this.inBody) {
                this.body = line;
                this.inBody = false;
                this.set_terminator(new TextEncoder().encode('\n'));
                return i / 2 + 1;        // the messages after it are framed again
            }
            if (/^BODY [0-9]+$/.test(text)) {
                this.inBody = true;
                this.set_terminator_count(Number(text.slice(5)));
                return i / 2 + 1;
            }
            this.lines++;
        }
        return bounds.length / 2;        // took them all
    }
});
// snippet-end whole-reads

// snippet-begin message-found
const Echo = GObject.registerClass(class Echo extends Achat.Channel {
    _init(params) {
        super._init(params);
        this.set_terminator(new TextEncoder().encode('\r\n'));
    }

    vfunc_message_found(data) {          // data: a Uint8Array
        this.push(new TextEncoder().encode(`you said: ${new TextDecoder().decode(data)}\r\n`));
    }
});
// snippet-end message-found

test('the guide\'s LineCounter: lines counted, a body taken whole', t => {
    const {channel, peer} = channelPair(t, {type: LineCounter, record: false});
    feed(channel, peer, 'a\nb\nBODY 5\nx\ny\nzc\nd\n');
    spin(10);
    assertEqual(channel.lines, 4, 'lines');
    assertEqual(new TextDecoder().decode(channel.body), 'x\ny\nz', 'body');
});

test('the guide\'s Echo: one message at a time as plain bytes', t => {
    const {channel, peer} = channelPair(t, {type: Echo, record: false});
    feed(channel, peer, 'hi\r\n\r\nthere\r\n');
    const expected = 'you said: hi\r\nyou said: \r\nyou said: there\r\n';
    peer.waitReceived(expected.length);
    assertEqual(text(peer.received), expected, 'replies');
});

/* ------------------------------------------------------------------------- */

if (ARGV[0] === 'volume-peer')
    writeAsPeer(ARGV[2], volumeStream(Number(ARGV[1])));
else
    run();
