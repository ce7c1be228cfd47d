// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// How channels end, seen from GJS: closed exactly once and last, with null
// for an orderly close and a GLib.Error for a network failure (I18), what
// a closed channel still answers, and whether a dropped closed channel can
// be collected.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {
    assert, assertEqual, assertError, channelPair, connectionPair, feed, pattern,
    show, spin, text, u8, waitFor,
} from './common.js';
import {test, run} from './tap.js';

/**
 * Makes the peer's close a reset: data the channel sent is left unread in
 * the peer's socket, and closing such a socket sends RST.
 */
function resetFromPeer(channel, peer) {
    const before = channel.get_bytes_sent();
    channel.push(u8('unread by the peer'));
    waitFor(() => channel.get_bytes_sent() > before || channel.is_closed(), 'the write');
    spin(10);
    peer.close();
}

/* Closed, exactly once, and last ------------------------------------------------ */

const WAYS_TO_CLOSE = {
    'close()': ({channel}) => channel.close(),
    'close() twice': ({channel}) => {
        channel.close();
        channel.close();
    },
    'close_when_done() then close()': ({channel}) => {
        channel.push(u8('x'));
        channel.close_when_done();
        channel.close();
    },
    'close_when_done() twice': ({channel}) => {
        channel.close_when_done();
        channel.close_when_done();
    },
    'discard_buffers() after close_when_done()': ({channel}) => {
        channel.push(u8('x'));
        channel.close_when_done();
        channel.discard_buffers();
    },
    'the peer closes': ({peer}) => peer.close(),
    'the peer shuts down its write side': ({peer}) => peer.shutdownWrite(),
    'the peer resets': ({channel, peer}) => resetFromPeer(channel, peer),
    'close() in terminator-found': ({channel, peer}) => {
        channel.connect('terminator-found', ch => ch.close());
        peer.write('a\nb\nc\n');
    },
    'close() in data-collected': ({channel, peer}) => {
        channel.connect('data-collected', ch => ch.close());
        peer.write('a\nb\nc\n');
    },
    'close() in closed': ({channel}) => {
        channel.connect('closed', ch => ch.close());
        channel.close();
    },
    'close_when_done() in terminator-found with more input coming': ({channel, peer}) => {
        channel.connect('terminator-found', ch => {
            // Pushes would be refused once closing: check first.
            if (ch.is_closing())
                return;
            ch.push(u8('bye'));
            ch.close_when_done();
        });
        peer.write('a\nb\nc\n');
    },
};

for (const [way, close] of Object.entries(WAYS_TO_CLOSE)) {
    test(`closed exactly once and last: ${way}`, t => {
        const pair = channelPair(t, {terminator: '\n', collect: way.includes('data-collected')});
        const {channel, peer, recorder} = pair;
        close(pair);
        recorder.waitClosed();
        // Whatever happens next, nothing more is emitted.
        if (!peer.closed) {
            try {
                peer.write('more\ninput\n');
            } catch {
                // the channel closed the connection already
            }
        }
        channel.close();
        channel.close_when_done();
        spin(30);
        recorder.assertClosedOnce();
        assertEqual(channel.is_closed(), true);
        assertEqual(channel.is_closing(), true);
        assertEqual(recorder.log[recorder.log.length - 1].startsWith('closed'), true,
            `closed is last: ${recorder.logText}`);
    });
}

test('closed: emitted before close() returns, after is-open is notified', t => {
    const {channel, recorder} = channelPair(t);
    const order = [];
    channel.connect('notify::is-open', ch => order.push(`notify(${ch.is_closed()})`));
    channel.connect('closed', ch => order.push(`closed(${ch.is_closed()})`));
    channel.close();
    assertEqual(order, ['notify(true)', 'closed(true)']);
    assertEqual(recorder.closedCount, 1);
});

test('closed carries null for an orderly close by the peer', t => {
    const {peer, recorder} = channelPair(t, {terminator: '\n'});
    peer.write('done\n');
    peer.close();
    recorder.waitClosed();
    assertEqual(recorder.error, null);
    assertEqual(recorder.logText, 'T(done) closed');
});

/* Network errors -------------------------------------------------------------- */

test('I18: the peer resets mid-frame: received bytes delivered, then closed with a GLib.Error', t => {
    for (const collect of [false, true]) {
        const {channel, peer, recorder} = channelPair(t, {terminator: '\r\n', collect});
        feed(channel, peer, 'one\r\ntwo\r');
        assertEqual(recorder.logText, collect ? 'c(one) T(one) c(two)' : 'T(one)', 'before the reset');
        resetFromPeer(channel, peer);
        recorder.waitClosed();
        recorder.assertClosedOnce();

        const error = recorder.error;
        assert(error instanceof GLib.Error, `closed carries ${error}`);
        assertEqual(GLib.quark_to_string(error.domain), 'g-io-error-quark');
        assert(error.matches(Gio.IOErrorEnum, error.code), 'matches(Gio.IOErrorEnum, code)');
        print(`# reset reported as ${error.code} (CONNECTION_CLOSED is ${Gio.IOErrorEnum.CONNECTION_CLOSED}): ${error.message}`);
        assertEqual(recorder.logText,
            `${collect ? 'c(one) T(one) c(two) c(\\r)' : 'T(one)'} closed(g-io-error-quark:${error.code})`);
        assertEqual(show(recorder.collectedAtClose), 'two\\r', 'get_collected() in closed: the unfinished frame');
    }
});

test('the peer goes away while the channel writes: closed with a GLib.Error', t => {
    const {channel, peer, recorder} = channelPair(t);
    // More than the socket buffers hold: the channel is still writing when
    // the peer, which reads nothing, closes with unread data (a reset).
    channel.push_bytes(new GLib.Bytes(pattern(16 << 20, 1)));
    waitFor(() => channel.get_bytes_sent() > 0, 'the first write');
    spin(20);
    assert(channel.get_queued_bytes() > 0, 'output still queued');
    peer.close();
    recorder.waitClosed();
    recorder.assertClosedOnce();
    assert(recorder.error instanceof GLib.Error, `closed carries ${recorder.error}`);
    assertEqual(recorder.error.domain, Gio.io_error_quark());
    print(`# reported as ${recorder.error.code}: ${recorder.error.message}`);
    assertEqual(channel.get_queued_bytes(), 0, 'queued output dropped');
});

test('a failed connect closes a connecting channel with a GLib.Error', t => {
    const socket = Gio.Socket.new(Gio.SocketFamily.IPV4, Gio.SocketType.STREAM, Gio.SocketProtocol.TCP);
    socket.set_blocking(false);
    // A port nobody listens on.
    const probe = Gio.Socket.new(Gio.SocketFamily.IPV4, Gio.SocketType.STREAM, Gio.SocketProtocol.TCP);
    probe.bind(Gio.InetSocketAddress.new_from_string('127.0.0.1', 0), false);
    const address = probe.get_local_address();
    probe.close();
    try {
        socket.connect(address, null);
    } catch (e) {
        if (e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CONNECTION_REFUSED))
            t.skip('the refusal came from connect() itself');
        assertError(e, Gio.io_error_quark(), Gio.IOErrorEnum.PENDING);
    }
    const channel = new Achat.Channel({socket});
    const errors = [];
    channel.connect('closed', (_ch, error) => errors.push(error));
    channel.push(u8('never sent'));
    t.defer(() => channel.close());
    waitFor(() => errors.length > 0, 'closed');
    spin(10);
    assertEqual(errors.length, 1);
    assertError(errors[0], Gio.io_error_quark(), Gio.IOErrorEnum.CONNECTION_REFUSED);
});

/* A closed channel ------------------------------------------------------------- */

test('a closed channel answers its getters and ignores setters, with no critical', t => {
    t.expectLog('Achat', /refused: the channel is closed/, {min: 2});
    const {channel, peer} = channelPair(t, {terminator: '\n'});
    feed(channel, peer, 'unfinished');
    channel.close();

    assertEqual(text(channel.get_collected()), 'unfinished');
    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES);
    channel.set_terminator(u8('\r\n'));
    channel.set_terminator_count(3);
    channel.set_terminator_none();
    channel.discard_buffers();
    channel.close_when_done();
    channel.close();
    assertEqual(channel.get_queued_bytes(), 0);
    assertEqual(channel.get_bytes_received(), 10);
    assertEqual(channel.get_remote_address(), null);
    assert(channel.get_socket() instanceof Gio.Socket, 'get_socket() still answers');
    assertEqual(channel.push(u8('no')), false);
    assertEqual(channel.push_with_producer(Achat.SimpleProducer.new(new GLib.Bytes(u8('no')), 0)), false);
    spin(10);
});

test('many channels opened and closed: each closed once', t => {
    const closed = [];
    for (let i = 0; i < 50; i++) {
        const {server, client} = connectionPair();
        const channel = new Achat.Channel({stream: server});
        channel.connect('closed', () => closed.push(i));
        if (i % 2)
            client.close(null);
        else
            channel.close();
        t.defer(() => client.close(null));
    }
    waitFor(() => closed.length >= 50, 'fifty closes');
    spin(20);
    assertEqual(closed.length, 50);
    assertEqual(new Set(closed).size, 50);
});

/* Collection ------------------------------------------------------------------- */

function collect() {
    return new Promise(resolve => {
        let n = 0;
        GLib.timeout_add(GLib.PRIORITY_DEFAULT, 10, () => {
            System.gc();
            if (++n < 10)
                return GLib.SOURCE_CONTINUE;
            resolve();
            return GLib.SOURCE_REMOVE;
        });
    });
}

test('a closed channel nobody holds is collected (WeakRef)', async t => {
    // GJS 1.74 has WeakRef, but whether it ever clears them (and releases
    // GObject wrappers) is what the controls find out.
    const controls = (() => ({
        plain: new WeakRef({}),
        gobject: new WeakRef(new GObject.Object()),
    }))();
    const refs = (() => {
        const open = connectionPair();
        const closed = connectionPair();
        const openChannel = new Achat.Channel({stream: open.server});
        const closedChannel = new Achat.Channel({stream: closed.server});
        // JS state on the wrapper: without any, GJS 1.80+ may drop the
        // wrapper of a live object and make a new one when it is needed,
        // and a WeakRef says nothing about the object itself.
        openChannel.tag = 'kept';
        closedChannel.tag = 'dropped';
        closedChannel.close();
        t.defer(() => {
            open.client.close(null);
            closed.client.close(null);
        });
        return {open: new WeakRef(openChannel), closed: new WeakRef(closedChannel)};
    })();
    await collect();
    await collect();

    const alive = ref => ref.deref() !== undefined;
    print(`# after GC: plain object ${alive(controls.plain) ? 'alive' : 'collected'}, GObject.Object ${
        alive(controls.gobject) ? 'alive' : 'collected'}, closed channel ${
        alive(refs.closed) ? 'alive' : 'collected'}, open channel ${alive(refs.open) ? 'alive' : 'collected'}`);
    if (alive(controls.plain) || alive(controls.gobject))
        t.skip('this GJS does not clear WeakRefs (not even to a plain object or a bare GObject.Object)');
    assert(!alive(refs.closed), 'the closed channel was not collected');
    assert(alive(refs.open), 'the open channel must stay alive: the main loop holds it');
    assertEqual(refs.open.deref().tag, 'kept', 'its JS state');
    refs.open.deref().close();
});

run();
