// server-achat.js: the achat contender of the benchmark, from JavaScript (GJS)
//
// Usage: gjs -m server-achat.js PORT [--bytes | --whole]
//
// Speaks bench/PROTOCOL.md on 127.0.0.1:PORT (0: the kernel picks), prints
// `listening on 127.0.0.1:PORT` and serves until SIGTERM or SIGINT.
//
// Written as the tutorial teaches GJS: an Achat.Server making channels of a
// subclass that overrides vfunc_terminator_found(), replies pushed with
// push(), a GET handed out by a JS Achat.Producer 64 KiB at a time. With
// --bytes, channels take each message as a Uint8Array (vfunc_message_found);
// with --whole, every message of a read in one call
// (vfunc_messages_found, whole-read delivery). Run with the uninstalled typelib (bench/run.py sets GI_TYPELIB_PATH and
// LD_LIBRARY_PATH).
//
// On GJS before 1.82 it forces a garbage collection every 100,000
// messages, as the AchatChannel documentation tells GJS users to: those
// versions refuse callbacks between the slices of an incremental
// collection, and without it a million lines lose messages.
//
// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later

import Gio from 'gi://Gio';
import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

const CHUNK_SIZE = 64 * 1024;

// Byte i of a GET stream is (i * 7 + 3) & 0xff: its period is 256, so every
// chunk of a stream starting at 0 is this same block.
const patternArray = new Uint8Array(CHUNK_SIZE);
for (let i = 0; i < CHUNK_SIZE; i++)
    patternArray[i] = (i * 7 + 3) & 0xff;
const PATTERN = new GLib.Bytes(patternArray);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CRLF = encoder.encode('\r\n');
const ERR = encoder.encode('ERR\r\n');
const [COMMAND, LINES, FRAMES] = [0, 1, 2];
const DIGITS = /^[0-9]+$/;

// GJS before 1.82: a full collection now and then (see the header).
const GC_EVERY = System.version < 18200 ? 100000 : 0;
let untilGc = GC_EVERY;

function gcTick(messages) {
    if (!GC_EVERY)
        return;
    untilGc -= messages;
    if (untilGc <= 0) {
        untilGc = GC_EVERY;
        System.gc();
    }
}

const PatternProducer = GObject.registerClass({
    Implements: [Achat.Producer],
}, class PatternProducer extends GObject.Object {
    _init(n) {
        super._init();
        this._remaining = n;
    }

    vfunc_more() {
        if (this._remaining === 0)
            return null;
        if (this._remaining >= CHUNK_SIZE) {
            this._remaining -= CHUNK_SIZE;
            return PATTERN;
        }
        const n = this._remaining;
        this._remaining = 0;
        return new GLib.Bytes(patternArray.subarray(0, n));
    }
});

const BenchChannel = GObject.registerClass(class BenchChannel extends Achat.Channel {
    _init(params) {
        super._init(params);
        this._mode = COMMAND;
        this._count = this._size = this._sum = 0;
        this.set_terminator(CRLF);
    }

    vfunc_terminator_found(message) {
        gcTick(1);
        this._handle(message.toArray());
    }

    // One message; returns whether the framing changed.
    _handle(data) {
        switch (this._mode) {
        case LINES:
            if (data.length === 4 && decoder.decode(data) === 'QUIT') {
                this.push(encoder.encode(`OK ${this._count} ${this._size}\r\n`));
                this._mode = COMMAND;
            } else {
                this._count++;
                this._size += data.length;
            }
            break;
        case FRAMES: {
            if (data.length === 0) {
                // The header "0\r\n" ends the frames.
                this.push(encoder.encode(`OK ${this._count} ${this._size} ${this._sum}\r\n`));
                this.set_terminator(CRLF);
                this._mode = COMMAND;
                return true;
            }
            this._frame(data);
            break;
        }
        default:
            return this._command(decoder.decode(data));
        }
        return false;
    }

    _frame(data) {
        let sum = this._sum;
        for (let i = 0; i < data.length; i++)
            sum = (sum + data[i]) >>> 0;
        this._sum = sum;
        this._count++;
        this._size += data.length;
    }

    // Returns whether the framing changed.

    _command(line) {
        if (line.startsWith('PING ')) {
            this.push(encoder.encode(`PONG ${line.slice(5)}\r\n`));
        } else if (line === 'LINES') {
            this._mode = LINES;
            this._count = this._size = 0;
        } else if (line === 'FRAMES') {
            // "<len>\r\n" then the payload: one message per frame.
            this.set_terminator_text_length(10, '\r\n', null, 0);
            this._mode = FRAMES;
            this._count = this._size = this._sum = 0;
            return true;
        } else if (line.startsWith('GET ') && DIGITS.test(line.slice(4))) {
            this.push_with_producer(new PatternProducer(Number(line.slice(4))));
        } else {
            this.push(ERR);
        }
        return false;
    }
});

// One message at a time as a Uint8Array (vfunc_message_found): no GLib.Bytes.
const BytesChannel = GObject.registerClass(class BytesChannel extends BenchChannel {
    vfunc_message_found(data) {
        gcTick(1);
        this._handle(data);
    }
});

// Whole-read delivery: every message of a read in one call, taken up to the
// one that changes the framing (the rest is framed again).
const WholeChannel = GObject.registerClass(class WholeChannel extends BenchChannel {
    vfunc_messages_found(data, bounds) {
        const bytes = data.toArray();
        gcTick(bounds.length / 2);
        for (let i = 0; i < bounds.length; i += 2) {
            const start = bounds[i], end = bounds[i + 1];
            if (this._mode === LINES && (end - start !== 4 ||
                decoder.decode(bytes.subarray(start, end)) !== 'QUIT')) {
                this._count++;
                this._size += end - start;
            } else if (this._mode === FRAMES && end > start) {
                this._frame(bytes.subarray(start, end));
            } else if (this._handle(bytes.subarray(start, end))) {
                return i / 2 + 1;
            }
        }
        return bounds.length / 2;
    }
});

const flavours = {'--whole': WholeChannel, '--bytes': BytesChannel};
const args = System.programArgs.filter(arg => !(arg in flavours));
const flavour = System.programArgs.find(arg => arg in flavours);
const port = Number(args[0] ?? 0);
const server = Achat.Server.new((flavour ? flavours[flavour] : BenchChannel).$gtype);
const [ok, bound] = server.add_address(Gio.InetSocketAddress.new_from_string('127.0.0.1', port),
    Gio.SocketType.STREAM, Gio.SocketProtocol.TCP, null);
if (!ok)
    throw new Error('cannot listen');

// GLib 2.84 moved unix_signal_add() to GLibUnix; older GLib has no GLibUnix.
const GLibUnix = await import('gi://GLibUnix').then(module => module.default, () => null);
const onSignal = GLibUnix
    ? (signum, handler) => GLibUnix.signal_add_full(GLib.PRIORITY_DEFAULT, signum, handler)
    : (signum, handler) => GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, handler);
const loop = new GLib.MainLoop(null, false);
for (const signum of [15, 2]) {   // SIGTERM, SIGINT
    onSignal(signum, () => {
        loop.quit();
        return GLib.SOURCE_CONTINUE;
    });
}
print(`listening on 127.0.0.1:${bound.get_port()}`);
server.start();
loop.run();
server.stop();
server.close();
