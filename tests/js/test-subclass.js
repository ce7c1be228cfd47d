// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Subclassing Achat.Channel in GJS: the class closures of the signals as
// vfunc_data_collected / vfunc_terminator_found / vfunc_closed, chaining up
// with super, and the readable()/writable() vfuncs.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {
    assert, assertBytes, assertEqual, assertError, channelPair, concat, feed,
    pattern, spin, text, u8, waitFor,
} from './common.js';
import {test, run} from './tap.js';

/** Sets its terminator in the constructor and answers every line. */
const LineChannel = GObject.registerClass(class LineChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.lines = [];
        this.closedWith = [];
        this.set_terminator(u8('\r\n'));
    }

    vfunc_terminator_found(line) {
        const s = text(line);
        this.lines.push(s);
        this.push(u8(`${s.toUpperCase()}\r\n`));
    }

    vfunc_closed(error) {
        this.closedWith.push(error);
    }
});

/** Manages its own buffer: does not chain up. */
const OwnBufferChannel = GObject.registerClass(class OwnBufferChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.pieces = [];
        this.messages = [];
        this.set_terminator(u8('\n'));
    }

    vfunc_data_collected(data) {
        this.pieces.push(text(data));
    }

    vfunc_terminator_found(message) {
        this.messages.push([text(message), this.pieces.splice(0)]);
    }
});

/** Looks at each piece, then chains up: messages are collected as usual. */
const ChainingChannel = GObject.registerClass(class ChainingChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.pieces = [];
        this.messages = [];
        this.set_terminator(u8('\n'));
    }

    vfunc_data_collected(data) {
        this.pieces.push(text(data));
        super.vfunc_data_collected(data);
    }

    vfunc_terminator_found(message) {
        this.messages.push(text(message));
    }
});

/** Reads only while not paused. */
const PausableChannel = GObject.registerClass(class PausableChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.paused = true;
        this.asked = 0;
    }

    vfunc_readable() {
        this.asked++;
        return !this.paused;
    }
});

/** Writes only while the gate is open; records what the default says. */
const GatedChannel = GObject.registerClass(class GatedChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.open = false;
        this.defaults = [];
    }

    vfunc_writable() {
        const queued = super.vfunc_writable();
        this.defaults.push(queued);
        return this.open && queued;
    }
});

test('a JS subclass: constructor sets the terminator, vfunc_terminator_found replies', t => {
    const {channel, peer, recorder} = channelPair(t, {type: LineChannel});
    assert(channel instanceof LineChannel && channel instanceof Achat.Channel, 'instanceof');
    assert(GObject.type_is_a(LineChannel.$gtype, Achat.Channel.$gtype), 'type_is_a');
    assertBytes(channel.get_terminator(), '\r\n', 'set in the constructor');

    feed(channel, peer, 'hello\r\nwor');
    feed(channel, peer, 'ld\r\n');
    peer.waitReceived(14);
    assertEqual(text(peer.received), 'HELLO\r\nWORLD\r\n');
    assertEqual(channel.lines, ['hello', 'world']);
    // Signal handlers run too, before the class closure (G_SIGNAL_RUN_LAST).
    assertEqual(recorder.logText, 'T(hello) T(world)');
});

test('signal handlers run before the vfunc (RUN_LAST class closures)', t => {
    const order = [];
    const Ordered = GObject.registerClass(class OrderedChannel extends Achat.Channel {
        vfunc_data_collected(data) {
            order.push(`vfunc c(${text(data)})`);
            super.vfunc_data_collected(data);
        }

        vfunc_terminator_found(message) {
            order.push(`vfunc T(${text(message)})`);
        }

        vfunc_closed(error) {
            order.push(`vfunc closed(${error})`);
        }
    });
    const {channel, peer} = channelPair(t, {type: Ordered, terminator: '\n'});
    channel.connect('data-collected', (_ch, data) => order.push(`handler c(${text(data)})`));
    channel.connect('terminator-found', (_ch, message) => order.push(`handler T(${text(message)})`));
    channel.connect('closed', (_ch, error) => order.push(`handler closed(${error})`));
    feed(channel, peer, 'ab\n');
    channel.close();
    assertEqual(order, [
        'handler c(ab)', 'vfunc c(ab)', 'handler T(ab)', 'vfunc T(ab)',
        'handler closed(null)', 'vfunc closed(null)',
    ]);
});

test('vfunc_data_collected without chaining up: own buffer, empty messages', t => {
    const {channel, peer, recorder} = channelPair(t, {type: OwnBufferChannel});
    feed(channel, peer, 'ab');
    feed(channel, peer, 'c\nde\n');
    assertEqual(channel.messages, [['', ['ab', 'c']], ['', ['de']]], '[message, pieces before it]');
    assertEqual(recorder.messages.map(m => m.get_size()), [0, 0], 'terminator-found handlers also get empty messages');
    assertEqual(channel.get_collected().get_size(), 0, 'nothing collected by the channel');
});

test('vfunc_data_collected chaining up with super: messages collected as usual', t => {
    const {channel, peer} = channelPair(t, {type: ChainingChannel});
    feed(channel, peer, 'ab');
    feed(channel, peer, 'c\nde\nf');
    assertEqual(channel.pieces, ['ab', 'c', 'de', 'f']);
    assertEqual(channel.messages, ['abc', 'de']);
    assertEqual(text(channel.get_collected()), 'f');
});

test('vfunc_closed: null on an orderly close, exactly once', t => {
    const {channel, peer, recorder} = channelPair(t, {type: LineChannel});
    feed(channel, peer, 'bye\r\n');
    peer.shutdownWrite();
    recorder.waitClosed();
    assertEqual(channel.closedWith, [null]);
    recorder.assertClosedOnce();
    channel.close();
    spin(10);
    assertEqual(channel.closedWith.length, 1, 'close() after closed');
    peer.waitEof();
    assertEqual(text(peer.received), 'BYE\r\n', 'the reply was written before closing');
});

test('vfunc_closed: a GLib.Error when the peer resets, still valid later', t => {
    const {channel, peer, recorder} = channelPair(t, {type: LineChannel});
    // Data left unread in the peer's socket makes its close() a reset.
    channel.push(u8('never read by the peer\r\n'));
    waitFor(() => channel.get_bytes_sent() > 0, 'the write');
    spin(10);
    peer.close();
    recorder.waitClosed();
    assertEqual(channel.closedWith.length, 1);
    const error = channel.closedWith[0];
    System.gc();
    spin(10);
    assertError(error, Gio.io_error_quark(), error?.code ?? -1);
    assert(error.domain === Gio.io_error_quark(), `error domain ${GLib.quark_to_string(error.domain)}`);
    assert(/reset|closed|broken/i.test(error.message), `error message: ${error.message}`);
    print(`# reset reported as ${error.code}: ${error.message}`);
});

test('vfunc_readable() FALSE: nothing read, even after a hang-up; TRUE again: all delivered', t => {
    const {channel, peer, recorder} = channelPair(t, {type: PausableChannel, terminator: '\n'});
    peer.write('one\ntwo\n');
    peer.shutdownWrite();
    spin(100);
    assert(channel.asked > 0, 'readable() was asked');
    assertEqual(channel.get_bytes_received(), 0, 'bytes read while paused');
    assertEqual(recorder.logText, '', 'signals while paused');

    channel.paused = false;
    recorder.waitClosed();
    assertEqual(recorder.logText, 'T(one) T(two) closed');
    assertEqual(recorder.error, null);
});

test('vfunc_writable(): output waits for it; the default is TRUE only with output queued (O6)', t => {
    const {channel, peer} = channelPair(t, {type: GatedChannel});
    peer.startReading();
    spin(30);
    // An idle channel need not ask writable() at all (achat asks it while
    // output is queued); if it did, the default said FALSE.
    print(`# writable() asked ${channel.defaults.length} times on an idle channel`);
    assert(channel.defaults.every(d => d === false), 'the default is FALSE on an idle channel');

    channel.push(u8('held back'));
    spin(50);
    assertEqual(channel.get_bytes_sent(), 0, 'written while writable() is FALSE');
    assertEqual(peer.receivedLength, 0);
    assert(channel.defaults.includes(true), 'the default is TRUE with output queued');

    channel.open = true;
    peer.waitReceived(9);
    assertEqual(text(peer.received), 'held back');
});

test('vfunc_readable/vfunc_writable defaults through super', t => {
    const Probe = GObject.registerClass(class ProbeChannel extends Achat.Channel {
        probe() {
            return [super.vfunc_readable(), super.vfunc_writable()];
        }
    });
    const {channel} = channelPair(t, {type: Probe});
    assertEqual(channel.probe(), [true, false], 'idle channel (O6)');
    channel.push(u8('x'));
    assertEqual(channel.probe(), [true, true], 'output queued');
});

test('a subclass constructor may push and close_when_done', t => {
    const Greeter = GObject.registerClass(class GreeterChannel extends Achat.Channel {
        constructor(params) {
            super(params);
            this.push(u8('220 welcome\r\n'));
            this.close_when_done();
        }
    });
    const {channel, peer, recorder} = channelPair(t, {type: Greeter});
    assertEqual(channel.is_closing(), true);
    peer.waitEof();
    assertEqual(text(peer.received), '220 welcome\r\n');
    recorder.waitClosed();
    recorder.assertClosedOnce();
});

test('an exception in a vfunc is logged and the channel goes on', t => {
    t.expectLog('Gjs', /JS ERROR: Error: vfunc failure/);
    const Failing = GObject.registerClass(class FailingChannel extends Achat.Channel {
        vfunc_terminator_found(message) {
            if (text(message) === 'bad')
                throw new Error('vfunc failure');
            this.push(u8(`ok ${text(message)}\n`));
        }
    });
    const {channel, peer} = channelPair(t, {type: Failing, terminator: '\n'});
    feed(channel, peer, 'good\nbad\nfine\n');
    peer.waitReceived(15);
    assertEqual(text(peer.received), 'ok good\nok fine\n');
});

test('data copied inside a vfunc (toArray(), get_data()) stays valid, slices too', t => {
    const Keeper = GObject.registerClass(class KeeperChannel extends Achat.Channel {
        constructor(params) {
            super(params);
            this.arrays = [];
            this.datas = [];
            this.copies = [];
            this.set_terminator(u8('\n'));
        }

        vfunc_terminator_found(message) {
            this.arrays.push(message.toArray());
            this.datas.push(message.get_data());
            this.copies.push(new GLib.Bytes(message.get_data()));
        }
    });
    const sizes = [10, 4096, 5000, 30000];
    const {channel, peer} = channelPair(t, {type: Keeper});
    const batch = seed => concat(sizes.flatMap((s, i) => [pattern(s, seed + i), u8('\n')]));
    peer.writeAsync(batch(0));
    waitFor(() => channel.arrays.length === sizes.length);
    peer.writeAsync(batch(40));
    waitFor(() => channel.arrays.length === 2 * sizes.length);
    System.gc();
    sizes.forEach((size, i) => {
        assertBytes(channel.arrays[i], pattern(size, i), `toArray() of message ${i}`);
        assertBytes(channel.datas[i], pattern(size, i), `get_data() of message ${i}`);
        assertBytes(channel.copies[i].toArray(), pattern(size, i), `GLib.Bytes copy of message ${i}`);
    });
});

test('a GLib.Bytes kept from a vfunc stays valid (probed in a child process)', () => {
    // GJS (1.74 and later) wraps boxed arguments of vfuncs without taking a
    // reference (callback_closure_inner() converts in-arguments with
    // copy_structs = false): a kept GLib.Bytes dangles once the emission
    // returns. Signal handlers are not affected (see test-input.js).
    const dir = Gio.File.new_for_uri(import.meta.url).get_parent();
    const gjs = GLib.file_read_link('/proc/self/exe');
    const child = Gio.Subprocess.new([gjs, '-m', dir.get_child('helper-vfunc-keep.js').get_path()],
        Gio.SubprocessFlags.STDOUT_PIPE | Gio.SubprocessFlags.STDERR_PIPE);
    const [, stdout, stderr] = child.communicate_utf8(null, null);
    if (stderr.trim())
        print(stderr.trim().split('\n').map(l => `# child: ${l}`).join('\n'));
    assert(child.get_successful(), `the child failed (status ${child.get_status()})`);
    const report = JSON.parse(stdout.trim().split('\n').pop());
    print(`# ${JSON.stringify(report.results)}`);
    assert(report.ok, 'messages kept from vfunc_terminator_found are wrong once the emission is over');
}, {todo: 'GJS does not reference boxed vfunc arguments; copy with toArray() or use a signal handler'});

run();
