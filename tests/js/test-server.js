// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Achat.Server from GJS, with plain channels and with a channel-type
// written in JS (made by C code: does the JS constructor run?), and
// Achat.Channel.connect_to_host_async().

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';

import Achat from 'gi://Achat?version=1.0';

import {
    Peer, Recorder, assert, assertEqual, assertError, assertThrows, listenOnLoopback,
    refusedAddress, spin, text, u8, waitFor,
} from './common.js';
import {test, run} from './tap.js';

const constructorCalls = [];

/** Sets its terminator in its constructor; echoes lines in upper case. */
const LineChannel = GObject.registerClass(class LineChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        constructorCalls.push({
            params: typeof params,
            streamSet: this.get_stream() !== null,
        });
        this.lines = [];
        this.set_terminator(u8('\n'));
    }

    vfunc_terminator_found(line) {
        this.lines.push(text(line));
        this.push(u8(`${text(line).toUpperCase()}\n`));
    }
});

/** A started server on a loopback port, stopped after the test. */
function startServer(t, server) {
    const address = listenOnLoopback(server);
    const accepted = [];
    server.connect('channel-accepted', (_server, channel) => accepted.push(channel));
    server.start();
    t.defer(() => {
        server.stop();
        server.close();
        for (const channel of accepted)
            channel.close();
    });
    return {address, accepted};
}

/** A client connection to address, closed after the test. */
function connectClient(t, address) {
    const peer = new Peer(new Gio.SocketClient().connect(address, null));
    t.defer(() => peer.close());
    return peer;
}

test('Achat.Server is a Gio.SocketService making Achat.Channels', t => {
    const server = new Achat.Server();
    assert(server instanceof Gio.SocketService && server instanceof Gio.SocketListener, 'a Gio.SocketService');
    assertEqual(GObject.type_name(server.channel_type), 'AchatChannel', 'default channel-type');
    assertEqual(GObject.type_name(server.get_channel_type()), 'AchatChannel');

    const {address, accepted} = startServer(t, server);
    assert(server.is_active(), 'active');
    const peer = connectClient(t, address);
    waitFor(() => accepted.length === 1, 'channel-accepted');
    const channel = accepted[0];
    assertEqual(channel.constructor, Achat.Channel, 'a plain Achat.Channel');
    assertEqual(channel.get_remote_address().get_port(), peer.connection.get_local_address().get_port());

    // Connected in channel-accepted, before anything is read.
    channel.set_terminator(u8('\n'));
    channel.connect('terminator-found', (ch, line) => ch.push(u8(`echo ${text(line)}\n`)));
    peer.write('hi\n');
    peer.waitReceived(8);
    assertEqual(text(peer.received), 'echo hi\n');
});

test('backing-off and accept-failed: what a server out of descriptors reports', t => {
    const server = new Achat.Server();
    assertEqual(server.backingOff, false, 'backingOff');
    assertEqual(server.get_backing_off(), false, 'get_backing_off()');
    const [id] = [server.connect('accept-failed', (_server, error) => error.message)];
    assert(id > 0, 'accept-failed connects');
    const query = GObject.signal_query(GObject.signal_lookup('accept-failed', Achat.Server));
    assertEqual(query.param_types.map(type => GObject.type_name(type)).join(), 'GError', 'its argument');

    // Stopped and started again: still serves.
    const {address, accepted} = startServer(t, server);
    server.stop();
    server.start();
    const peer = connectClient(t, address);
    waitFor(() => accepted.length === 1, 'channel-accepted after a restart');
    accepted[0].set_terminator(u8('\n'));
    accepted[0].connect('terminator-found', (ch, line) => ch.push(u8(`${text(line)}!\n`)));
    peer.write('again\n');
    peer.waitReceived(7);
    assertEqual(text(peer.received), 'again!\n');
});

test('channel-accepted handlers see no input yet: the first message is framed', t => {
    const server = new Achat.Server();
    const messages = [];
    server.connect('channel-accepted', (_server, channel) => {
        assertEqual(channel.get_bytes_received(), 0);
        channel.set_terminator(u8('|'));
        channel.connect('terminator-found', (_ch, m) => messages.push(text(m)));
    });
    const {address} = startServer(t, server);
    // Written before the server even accepted.
    const peer = connectClient(t, address);
    peer.write('a|b|');
    waitFor(() => messages.length === 2, 'two messages');
    assertEqual(messages, ['a', 'b']);
});

test('channel-type set to a JS subclass: the server makes it and its constructor runs', t => {
    constructorCalls.length = 0;
    const server = new Achat.Server({channel_type: LineChannel.$gtype});
    assertEqual(GObject.type_name(server.channel_type), GObject.type_name(LineChannel.$gtype));
    const {address, accepted} = startServer(t, server);

    // Each client writes at once, before its channel exists: the
    // terminator must have been set by the constructor before the first read.
    const peers = [0, 1, 2].map(i => {
        const peer = connectClient(t, address);
        peer.write(`client ${i}\nsecond line\n`);
        return peer;
    });
    waitFor(() => accepted.length === 3, 'three channels');
    peers.forEach((peer, i) => {
        const expected = `CLIENT ${i}\nSECOND LINE\n`;
        peer.waitReceived(expected.length);
        assertEqual(text(peer.received), expected, `replies to client ${i}`);
    });

    assertEqual(constructorCalls.length, 3, 'JS constructor calls');
    for (const channel of accepted) {
        assert(channel instanceof LineChannel, 'channel-accepted gives an instance of the JS class');
        assert(Array.isArray(channel.lines), 'fields set by the constructor are there');
        assertEqual(channel.lines.length, 2);
        assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.BYTES);
    }
    print(`# when C makes the object, the constructor gets params of type ${constructorCalls[0].params}` +
        ` and the stream is ${constructorCalls[0].streamSet ? 'already' : 'not yet'} set after super()`);
});

test('Achat.Server.new(JS type), set_channel_type() and notify::channel-type', t => {
    constructorCalls.length = 0;
    const server = Achat.Server.new(LineChannel.$gtype);
    assertEqual(GObject.type_name(server.get_channel_type()), GObject.type_name(LineChannel.$gtype));
    const {address, accepted} = startServer(t, server);

    const first = connectClient(t, address);
    first.write('x\n');
    first.waitReceived(2);
    assertEqual(text(first.received), 'X\n');
    assertEqual(constructorCalls.length, 1);

    let notified = 0;
    server.connect('notify::channel-type', () => notified++);
    server.set_channel_type(Achat.Channel.$gtype);
    server.set_channel_type(Achat.Channel.$gtype);
    assertEqual(notified, 1, 'notified once, only on a change');
    assertEqual(GObject.type_name(server.channel_type), 'AchatChannel');

    connectClient(t, address);
    waitFor(() => accepted.length === 2, 'second channel');
    assertEqual(accepted[1].constructor, Achat.Channel, 'plain channels from now on');
    assertEqual(constructorCalls.length, 1);

    server.channel_type = LineChannel.$gtype;
    assertEqual(notified, 2, 'notified when set as a property');
    assertEqual(GObject.type_name(server.get_channel_type()), GObject.type_name(LineChannel.$gtype));
});

test('Achat.Server.new() takes a class or its $gtype; GJS cannot pass G_TYPE_INVALID', () => {
    assertEqual(GObject.type_name(Achat.Server.new(Achat.Channel).channel_type), 'AchatChannel');
    assertEqual(GObject.type_name(Achat.Server.new(Achat.Channel.$gtype).channel_type), 'AchatChannel');
    assertEqual(GObject.type_name(Achat.Server.new(LineChannel).channel_type),
        GObject.type_name(LineChannel.$gtype));
    // achat_server_new (G_TYPE_INVALID) means Achat.Channel in C; GJS has
    // no GObject.TYPE_INVALID and refuses null and 0 for a GType.
    assertEqual(GObject.TYPE_INVALID, undefined);
    assertThrows(() => Achat.Server.new(null), /may not be null/);
    assertThrows(() => Achat.Server.new(0), /Expected type object/);
});

test('channel types that are not Achat.Channels: criticals and warnings, no crash', t => {
    t.expectLog('Achat', /achat_server_new: assertion/);
    t.expectLog('Achat', /achat_server_set_channel_type: assertion/);
    t.expectLog('GLib-GObject', /invalid or out of range for property 'channel-type'/);
    assertEqual(Achat.Server.new(GObject.Object.$gtype), null, 'Achat.Server.new(GObject.Object)');

    const server = new Achat.Server();
    server.set_channel_type(Gio.SocketConnection.$gtype);
    assertEqual(GObject.type_name(server.channel_type), 'AchatChannel', 'unchanged by set_channel_type()');
    server.channel_type = GObject.Object.$gtype;
    assertEqual(GObject.type_name(server.channel_type), 'AchatChannel', 'unchanged by the property');
    server.close();
});

test('many clients at once, each with its own JS channel', t => {
    const server = new Achat.Server({channel_type: LineChannel.$gtype});
    const {address, accepted} = startServer(t, server);
    const peers = [];
    // The listen backlog is small (10): let the server accept as clients
    // connect, or a synchronous connect() would wait for a free slot.
    for (let i = 0; i < 20; i++) {
        const peer = connectClient(t, address);
        peer.write(`n${i}\n`);
        peers.push(peer);
        waitFor(() => accepted.length > i, `channel ${i}`);
    }
    peers.forEach((peer, i) => {
        peer.waitReceived(`N${i}\n`.length);
        assertEqual(text(peer.received), `N${i}\n`);
    });
    assertEqual(accepted.length, 20);
    assert(accepted.every(c => c instanceof LineChannel));
});

/* connect_to_host_async --------------------------------------------------- */

test('connect_to_host_async: a channel over the new connection', t => {
    const server = new Achat.Server({channel_type: LineChannel.$gtype});
    const {address} = startServer(t, server);

    let result = null;
    Achat.Channel.connect_to_host_async(`127.0.0.1:${address.get_port()}`, 0, null, (_source, res) => {
        try {
            result = Achat.Channel.connect_to_host_finish(res);
        } catch (e) {
            result = e;
        }
    });
    waitFor(() => result !== null, 'the connection');
    assert(result instanceof Achat.Channel, `connect_to_host_finish gave ${result}`);
    const channel = result;
    t.defer(() => channel.close());
    assert(channel.get_stream() instanceof Gio.SocketConnection, 'over a Gio.SocketConnection');
    assertEqual(channel.get_remote_address().get_port(), address.get_port());

    const recorder = new Recorder(channel);
    channel.set_terminator(u8('\n'));
    channel.push(u8('shout\n'));
    recorder.waitMessages(1);
    assertEqual(text(recorder.messages[0]), 'SHOUT');
});

test('connect_to_host_async with the default port', t => {
    const server = new Achat.Server();
    const {address, accepted} = startServer(t, server);
    let result = null;
    Achat.Channel.connect_to_host_async('127.0.0.1', address.get_port(), null, (_s, res) => {
        result = Achat.Channel.connect_to_host_finish(res);
    });
    waitFor(() => result !== null && accepted.length === 1, 'the connection');
    t.defer(() => result.close());
    assertEqual(result.get_remote_address().get_port(), address.get_port());
});

test('connect_to_host_async through Gio._promisify and await', async t => {
    Gio._promisify(Achat.Channel, 'connect_to_host_async', 'connect_to_host_finish');
    const server = new Achat.Server({channel_type: LineChannel.$gtype});
    const {address} = startServer(t, server);
    const channel = await Achat.Channel.connect_to_host_async(`127.0.0.1:${address.get_port()}`, 0, null);
    t.defer(() => channel.close());
    assert(channel instanceof Achat.Channel);
    const recorder = new Recorder(channel);
    channel.set_terminator(u8('\n'));
    channel.push(u8('async\n'));
    await new Promise(resolve => {
        const id = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 5, () => {
            if (recorder.messages.length === 0)
                return GLib.SOURCE_CONTINUE;
            resolve();
            return GLib.SOURCE_REMOVE;
        });
        t.defer(() => GLib.Source.remove_by_id?.(id));
    });
    assertEqual(text(recorder.messages[0]), 'ASYNC');
});

test('connect_to_host_async: a refused connection is a G_IO_ERROR_CONNECTION_REFUSED', () => {
    let error = null, channel = null;
    Achat.Channel.connect_to_host_async(refusedAddress(), 0, null, (_s, res) => {
        try {
            channel = Achat.Channel.connect_to_host_finish(res);
        } catch (e) {
            error = e;
        }
    });
    waitFor(() => error !== null || channel !== null, 'the attempt to fail');
    assertEqual(channel, null, 'no channel');
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.CONNECTION_REFUSED);
    assert(error.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CONNECTION_REFUSED), 'matches(Gio.IOErrorEnum, ...)');
});

test('connect_to_host_async: cancelled', () => {
    const listener = new Gio.SocketListener();
    const address = listenOnLoopback(listener);
    const cancellable = new Gio.Cancellable();
    let error = null, channel = null;
    Achat.Channel.connect_to_host_async(`127.0.0.1:${address.get_port()}`, 0, cancellable, (_s, res) => {
        try {
            channel = Achat.Channel.connect_to_host_finish(res);
        } catch (e) {
            error = e;
        }
    });
    cancellable.cancel();
    waitFor(() => error !== null || channel !== null, 'the attempt to end');
    listener.close();
    channel?.close();
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED);
    assertEqual(channel, null);
});

test('connect_to_host_async with wrong argument types throws', () => {
    const throwsOn = (what, fn) => {
        let threw = false;
        try {
            fn();
        } catch {
            threw = true;
        }
        assert(threw, `${what} did not throw`);
    };
    throwsOn('a null host', () => Achat.Channel.connect_to_host_async(null, 0, null, () => {}));
    throwsOn('a port out of range', () => Achat.Channel.connect_to_host_async('127.0.0.1', 70000, null, () => {}));
    throwsOn('a non-cancellable', () => Achat.Channel.connect_to_host_async('127.0.0.1', 1, {}, () => {}));
    throwsOn('finish with a non-result', () => Achat.Channel.connect_to_host_finish(new GObject.Object()));
    spin(10);
});

run();
