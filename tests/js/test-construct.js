// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Making channels from GJS: over a bare Gio.Socket, a Gio.SocketConnection,
// a socket still connecting, other streams; the state of a new channel;
// construction mistakes.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {
    Peer, Recorder, assert, assertEqual, assertError, assertThrows,
    connectionPair, listenOnLoopback, socketPair, spin, text, u8, waitFor,
} from './common.js';
import {test, run} from './tap.js';

/** A line exchanged both ways over an open channel. */
function assertTalks(channel, peer) {
    const recorder = new Recorder(channel);
    channel.set_terminator(u8('\n'));
    peer.write('ping\n');
    recorder.waitMessages(1);
    assertEqual(text(recorder.messages[0]), 'ping');

    assert(channel.push(u8('pong\n')), 'push returned false');
    peer.waitReceived(5);
    assertEqual(text(peer.received), 'pong\n');
    return recorder;
}

test('new Achat.Channel({socket}) over a bare Gio.Socket', t => {
    const {socket, peer: peerSocket} = socketPair();
    const channel = new Achat.Channel({socket});
    const peer = new Peer(peerSocket);
    t.defer(() => {
        channel.close();
        peer.close();
    });

    assert(channel instanceof Achat.Channel);
    assert(channel.socket === socket, 'socket property');
    assert(channel.get_socket() === socket, 'get_socket()');
    assertEqual(channel.stream, null, 'stream property of a bare-socket channel');
    assertEqual(channel.get_stream(), null, 'get_stream()');
    assert(channel.context instanceof GLib.MainContext, 'context property');
    assert(channel.get_context() instanceof GLib.MainContext, 'get_context()');
    assertEqual(channel.is_open, true, 'is-open property');
    assertEqual(channel.is_closed(), false, 'is_closed()');

    const remote = channel.get_remote_address();
    assert(remote instanceof Gio.InetSocketAddress, 'get_remote_address()');
    assertEqual(remote.get_address().to_string(), '127.0.0.1');
    assertEqual(remote.get_port(), peerSocket.get_local_address().get_port(), 'remote port');

    const recorder = assertTalks(channel, peer);
    assertEqual(channel.get_bytes_received(), 5);
    assertEqual(channel.bytes_received, 5, 'bytes-received property');
    assertEqual(channel.get_bytes_sent(), 5);
    assertEqual(channel.bytes_sent, 5, 'bytes-sent property');

    peer.close();
    recorder.waitClosed();
    recorder.assertClosedOnce();
    assertEqual(recorder.error, null, 'orderly close');
    assertEqual(channel.get_remote_address(), null, 'no remote address once closed');
    assert(socket.is_closed(), 'the channel closes its socket');
});

test('Achat.Channel.new(socket)', t => {
    const {socket, peer: peerSocket} = socketPair();
    const channel = Achat.Channel.new(socket);
    const peer = new Peer(peerSocket);
    t.defer(() => {
        channel.close();
        peer.close();
    });
    assert(channel.get_socket() === socket, 'get_socket()');
    assertTalks(channel, peer);
});

test('new Achat.Channel({stream}) over a Gio.SocketConnection', t => {
    const {server, client} = connectionPair();
    const channel = new Achat.Channel({stream: server});
    const peer = new Peer(client);
    t.defer(() => {
        channel.close();
        peer.close();
    });

    assert(channel.stream === server, 'stream property');
    assert(channel.get_stream() === server, 'get_stream()');
    assert(channel.socket === server.get_socket(), "socket property is the connection's socket");
    assertEqual(channel.get_remote_address().get_port(), client.get_local_address().get_port());

    const recorder = assertTalks(channel, peer);
    channel.close();
    recorder.assertClosedOnce();
    assert(server.is_closed(), 'the channel closes its stream');
    peer.waitEof();
});

test('Achat.Channel.new_for_stream(connection)', t => {
    const {server, client} = connectionPair();
    const channel = Achat.Channel.new_for_stream(server);
    const peer = new Peer(client);
    t.defer(() => {
        channel.close();
        peer.close();
    });
    assert(channel.get_stream() === server, 'get_stream()');
    assertTalks(channel, peer);
});

test('a channel made from a socket still connecting sends what was pushed before (O5)', t => {
    const listener = new Gio.SocketListener();
    const address = listenOnLoopback(listener);
    t.defer(() => listener.close());

    const socket = Gio.Socket.new(Gio.SocketFamily.IPV4, Gio.SocketType.STREAM, Gio.SocketProtocol.TCP);
    socket.set_blocking(false);
    let pending = false;
    try {
        socket.connect(address, null);
    } catch (e) {
        assertError(e, Gio.io_error_quark(), Gio.IOErrorEnum.PENDING, 'non-blocking connect');
        pending = true;
    }
    if (!pending)
        print('# note: the non-blocking connect completed at once');

    const channel = new Achat.Channel({socket});
    const recorder = new Recorder(channel);
    channel.set_terminator(u8('\n'));
    assert(channel.push(u8('early ')), 'push while connecting');
    assert(channel.push_bytes(new GLib.Bytes(u8('bird\n'))), 'push_bytes while connecting');

    const [connection] = listener.accept(null);
    const peer = new Peer(connection);
    t.defer(() => {
        channel.close();
        peer.close();
    });
    peer.waitReceived(11);
    assertEqual(text(peer.received), 'early bird\n');

    peer.write('worm\n');
    recorder.waitMessages(1);
    assertEqual(text(recorder.messages[0]), 'worm');
});

test('the state of a new channel', t => {
    const {server, client} = connectionPair();
    const channel = new Achat.Channel({stream: server});
    t.defer(() => {
        channel.close();
        client.close(null);
    });

    assertEqual(channel.get_terminator_kind(), Achat.TerminatorKind.NONE, 'terminator kind');
    const terminator = channel.get_terminator();
    // Annotated (nullable); GJS 1.74 returns NULL with length 0 as an empty
    // Uint8Array.
    assert(terminator === null || (terminator instanceof Uint8Array && terminator.length === 0),
        'get_terminator() of a new channel is neither null nor empty');
    assertEqual(channel.get_terminator_count(), 0, 'terminator count');
    assertEqual(channel.get_queued_bytes(), 0, 'queued bytes');
    assertEqual(channel.get_bytes_received(), 0, 'bytes received');
    assertEqual(channel.get_bytes_sent(), 0, 'bytes sent');
    assertEqual(channel.get_collected().get_size(), 0, 'collected');
    assertEqual(channel.is_closing(), false, 'is_closing()');
    assertEqual(channel.is_open, true, 'open');
    assertEqual(channel.is_closed(), false, 'is_closed()');
});

test('is-open: a property, notified once; is_closed() stays callable', t => {
    const {server, client} = connectionPair();
    const channel = new Achat.Channel({stream: server});
    t.defer(() => client.close(null));

    assertEqual(typeof channel.is_closed, 'function', 'is_closed is a method');
    assertEqual(channel.is_open, true);

    let notified = 0;
    channel.connect('notify::is-open', () => notified++);
    channel.close();
    assertEqual(channel.is_open, false);
    assertEqual(channel.is_closed(), true);
    assertEqual(notified, 1, 'notify::is-open');
});

test('memory streams are pollable: a channel runs over them', t => {
    const input = Gio.MemoryInputStream.new_from_bytes(new GLib.Bytes(u8('one\ntwo\nrest')));
    const output = Gio.MemoryOutputStream.new_resizable();
    const stream = Gio.SimpleIOStream.new(input, output);
    const channel = new Achat.Channel({stream});
    const recorder = new Recorder(channel);
    channel.set_terminator(u8('\n'));
    channel.connect('terminator-found', (ch, message) => ch.push(u8(`<${text(message)}>`)));
    t.defer(() => channel.close());

    assertEqual(channel.get_socket(), null, 'no socket for a stream that is not a socket connection');
    recorder.waitClosed();
    assertEqual(recorder.logText, 'T(one) T(two) closed');
    assertEqual(recorder.error, null, 'orderly close at the end of the input');
    assertEqual(text(recorder.collectedAtClose), 'rest', 'unfinished frame');
    waitFor(() => output.is_closed(), 'the stream to be closed');
    assertEqual(text(output.steal_as_bytes()), '<one><two>', 'replies written before closing');
});

test('a stream that cannot be polled closes the channel with ACHAT_ERROR_NOT_POLLABLE', t => {
    const input = Gio.BufferedInputStream.new(Gio.MemoryInputStream.new_from_bytes(new GLib.Bytes(u8('a\n'))));
    const stream = Gio.SimpleIOStream.new(input, Gio.MemoryOutputStream.new_resizable());
    const channel = new Achat.Channel({stream});
    const recorder = new Recorder(channel);
    channel.set_terminator(u8('\n'));
    t.defer(() => channel.close());

    assertEqual(recorder.closedCount, 0, 'the error comes on the main loop, not from the constructor');
    recorder.waitClosed();
    recorder.assertClosedOnce();
    assertError(recorder.error, Achat.error_quark(), Achat.Error.NOT_POLLABLE);
    assertError(recorder.error, Achat.Error, Achat.Error.NOT_POLLABLE, 'matched with Achat.Error');
    assertEqual(recorder.logText, `closed(achat-error-quark:${Achat.Error.NOT_POLLABLE})`, 'nothing read');
    assert(/GSimpleIOStream/.test(recorder.error.message), `message names the stream: ${recorder.error.message}`);
    assertEqual(channel.is_closed(), true);
});

test('a channel with neither socket nor stream: a critical, a closed channel, no crash', t => {
    t.expectLog('Achat', /needs a socket or a stream/);
    t.expectLog('Achat', /refused/);
    const channel = new Achat.Channel();
    assertEqual(channel.is_closed(), true, 'closed from the start');
    assertEqual(channel.push(u8('x')), false, 'push refused');
    channel.close();
    spin(20);
});

test('construction with wrong argument types throws', () => {
    assertThrows(() => new Achat.Channel({socket: new GObject.Object()}), /GSocket/);
    assertThrows(() => new Achat.Channel({stream: 'not a stream'}), /GIOStream|type/);
    assertThrows(() => new Achat.Channel({stream: Gio.MemoryInputStream.new()}), /GIOStream|type/);
    assertThrows(() => Achat.Channel.new(null), /may not be null/);
    assertThrows(() => Achat.Channel.new(42), /GSocket|object|type/i);
    assertThrows(() => Achat.Channel.new_for_stream(null), /may not be null/);
    assertThrows(() => Achat.Channel.new_for_stream(Gio.MemoryOutputStream.new_resizable()), /GIOStream|type/);
    assertThrows(() => new Achat.Channel({no_such_property: 1}), /property|no_such/i);
});

test('a dropped open channel lives on: the main loop keeps it', t => {
    const {server, client} = connectionPair();
    const peer = new Peer(client);
    t.defer(() => peer.close());
    const seen = [];
    (() => {
        const channel = new Achat.Channel({stream: server});
        channel.set_terminator(u8('\n'));
        channel.connect('terminator-found', (ch, message) => {
            seen.push(text(message));
            ch.push(u8(`echo ${text(message)}\n`));
        });
        channel.connect('closed', () => seen.push('closed'));
    })();
    System.gc();
    spin(20);
    System.gc();

    peer.write('still there?\n');
    peer.waitReceived(18);
    assertEqual(text(peer.received), 'echo still there?\n');
    peer.close();
    waitFor(() => seen.includes('closed'), 'closed');
    assertEqual(seen, ['still there?', 'closed']);
});

run();
