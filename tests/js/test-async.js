// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Awaiting messages and drains from GJS: read_message_async() and
// drain_async() through Gio._promisify(), and the module
// bindings/gjs/achat.js (readMessage(), drain(), messages() for
// `for await`): a line client, the end of the stream, cancelling, a second
// read refused, reads next to a terminator-found handler, and a drain
// while the peer reads slowly. (GJS has no threads: pushes from other
// threads are tested in C and Python.)

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';

import Achat from 'gi://Achat?version=1.0';

import {connect, drain, messages, readBytes, readLine, readMessage} from '../../bindings/gjs/achat.js';
import GObject from 'gi://GObject';

import {
    Peer, assert, assertBytes, assertEqual, assertError, connectionPair, listenOnLoopback, pattern,
    refusedAddress, sleep, text, until, withTimeout,
} from './common.js';
import {test, run} from './tap.js';

// What the module did already; calling it again changes nothing.
Gio._promisify(Achat.Channel.prototype, 'read_message_async', 'read_message_finish');
Gio._promisify(Achat.Channel.prototype, 'drain_async', 'drain_finish');
Gio._promisify(Gio.InputStream.prototype, 'read_bytes_async', 'read_bytes_finish');

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/* Helpers ------------------------------------------------------------------ */

/** Whether promise has settled, after the pending jobs ran. */
async function settled(promise) {
    let done = false;
    promise.then(() => (done = true), () => (done = true));
    await sleep(1);
    return done;
}

/** The error promise is rejected with. */
async function rejection(promise) {
    try {
        await promise;
    } catch (e) {
        return e;
    }
    throw new Error('the promise was fulfilled');
}

/**
 * A channel over one end of a loopback connection (the channel's
 * `connection`), and a Peer on the other.
 */
function pair(t, terminator = '\n') {
    const {server, client} = connectionPair();
    const channel = new Achat.Channel({stream: server});
    if (terminator !== null)
        channel.set_terminator(encoder.encode(terminator));
    const peer = new Peer(client);
    t.defer(() => {
        channel.close();
        peer.close();
    });
    return {channel, peer, connection: server};
}

/** Two channels over the two ends of a loopback connection. */
function channelPair(t) {
    const {server, client} = connectionPair();
    const ends = [new Achat.Channel({stream: server}), new Achat.Channel({stream: client})];
    t.defer(() => ends.forEach(channel => channel.close()));
    return ends;
}

/** The tutorial's line server: "you said: LINE", and "bye" to QUIT before closing. */
function serveLines(channel) {
    channel.set_terminator(encoder.encode('\r\n'));
    channel.connect('terminator-found', (ch, line) => {
        const lineText = text(line);
        if (lineText === 'QUIT') {
            ch.push(encoder.encode('bye\r\n'));
            ch.close_when_done();
        } else {
            ch.push(encoder.encode(`you said: ${lineText}\r\n`));
        }
    });
}

// snippet-begin line-client
async function lineClient(channel, lines) {
    channel.set_terminator(encoder.encode('\r\n'));
    const replies = [];
    for (const line of lines) {
        channel.push(encoder.encode(`${line}\r\n`));
        const reply = await readMessage(channel);
        replies.push(decoder.decode(reply.toArray()));
    }
    channel.push(encoder.encode('QUIT\r\n'));
    for await (const reply of messages(channel))   // until the server closes
        replies.push(decoder.decode(reply.toArray()));
    return replies;
}
// snippet-end line-client

// snippet-begin bulk-reply
// Reads a Redis bulk string such as "$5\r\nhello\r\n": its length on a line,
// then that many bytes and a line ending.
async function bulkReply(channel) {
    const header = await readLine(channel);                 // "$5"
    const length = Number(decoder.decode(header.toArray()).slice(1));
    const body = await readBytes(channel, length + 2);      // "hello\r\n"
    return body.toArray().subarray(0, length);
}
// snippet-end bulk-reply

/* Reading ------------------------------------------------------------------- */

const ClientChannel = GObject.registerClass(class ClientChannel extends Achat.Channel {});

test('connect(): a Gio.SocketConnectable, a Gio.SocketClient, a JS channel type', async t => {
    const server = new Achat.Server();
    const address = listenOnLoopback(server);
    server.connect('channel-accepted', (_server, channel) => {
        channel.set_terminator(encoder.encode('\n'));
        channel.connect('terminator-found', (ch, line) => ch.push(encoder.encode(`echo ${text(line)}\n`)));
    });
    server.start();
    t.defer(() => server.stop());

    const client = new Gio.SocketClient({timeout: 10});
    const channel = await withTimeout(connect(address, {client, channelType: ClientChannel}), 'connect');
    t.defer(() => channel.close());
    assert(channel instanceof ClientChannel, 'a ClientChannel');
    channel.set_terminator(encoder.encode('\n'));
    channel.push(encoder.encode('hi\n'));
    assertEqual(text(await withTimeout(readMessage(channel), 'the reply')), 'echo hi');

    // The default client and type; a port nobody listens on.
    let error = null;
    try {
        await withTimeout(connect(Gio.NetworkAddress.parse(refusedAddress(), 1)), 'a refused connect');
    } catch (e) {
        error = e;
    }
    assertError(error, Gio.IOErrorEnum, Gio.IOErrorEnum.CONNECTION_REFUSED, 'refused');
});

test('the tutorial\'s bulk reader: replies that came in one write, before the first read', async t => {
    const {channel, peer} = pair(t);
    peer.write('$5\r\nhello\r\n$12\r\nline\r\nline\r\n\r\n$0\r\n\r\n');
    await until(() => channel.get_bytes_received() === 36, 'the replies received');
    assertEqual(text(await withTimeout(bulkReply(channel), 'a reply')), 'hello');
    assertEqual(text(await withTimeout(bulkReply(channel), 'a reply')), 'line\r\nline\r\n');
    assertEqual(text(await withTimeout(bulkReply(channel), 'a reply')), '');
    peer.close();
    assertEqual(await withTimeout(readLine(channel), 'the end'), null);
});

test('the tutorial\'s line client against its line server (readMessage, for await)', async t => {
    const [server, client] = channelPair(t);
    serveLines(server);
    const replies = await withTimeout(lineClient(client, ['hello', 'world']), 'the replies');
    assertEqual(replies, ['you said: hello', 'you said: world', 'bye']);
    assert(client.is_closed(), 'the client closed at the end');
});

test('request/response as a straight line with Gio._promisify: read_message_async(null)', async t => {
    const [server, client] = channelPair(t);
    server.set_terminator(encoder.encode('\n'));
    server.connect('terminator-found', (ch, request) => {
        const n = text(request).replace('GET ', '');
        ch.push(encoder.encode(`VALUE ${n}\nEXTRA ${n}\n`));   // two messages in one write
    });
    client.set_terminator(encoder.encode('\n'));
    for (let i = 0; i < 20; i++) {
        client.push(encoder.encode(`GET ${i}\n`));
        // eslint-disable-next-line no-await-in-loop
        assertEqual(text(await client.read_message_async(null)), `VALUE ${i}`);
        // eslint-disable-next-line no-await-in-loop
        assertEqual(text(await client.read_message_async(null)), `EXTRA ${i}`);
    }
    server.close();
    // The clean end: null, again and again.
    assertEqual(await client.read_message_async(null), null);
    assertEqual(await readMessage(client), null);
    assert(client.is_closed(), 'closed');
});

test('for await over messages() until the end, the peer writing lines cut in chunks', async t => {
    const {channel, peer} = pair(t);
    const expected = [];
    for (let i = 0; i < 500; i++)
        expected.push(`line ${i}`);
    expected.push('');   // an empty one
    const wire = encoder.encode(expected.map(line => `${line}\n`).join(''));

    const collect = async () => {
        const got = [];
        for await (const message of messages(channel))
            got.push(text(message));
        return got;
    };
    const collecting = collect();   // the first read is pending now
    for (let start = 0; start < wire.length; start += 777) {
        peer.write(wire.subarray(start, start + 777));
        // eslint-disable-next-line no-await-in-loop
        await sleep(0);
    }
    peer.shutdownWrite();
    assertEqual(await withTimeout(collecting, 'the end'), expected);
    assert(channel.is_closed(), 'closed');
});

test('the end inside a message: PARTIAL_INPUT thrown out of for await, the bytes in get_collected()', async t => {
    const {channel, peer} = pair(t);
    const got = [];
    const collecting = (async () => {
        for await (const message of messages(channel))
            got.push(text(message));
    })();
    peer.write('whole\nhal');
    peer.shutdownWrite();
    const error = await withTimeout(rejection(collecting), 'the end');
    assertEqual(got, ['whole']);
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.PARTIAL_INPUT);
    assertBytes(channel.get_collected(), 'hal');
    // The next read fails the same way.
    assertError(await rejection(readMessage(channel)), Gio.io_error_quark(), Gio.IOErrorEnum.PARTIAL_INPUT);
});

test('a counted frame cut short by the end: PARTIAL_INPUT', async t => {
    const {channel, peer} = pair(t, null);
    channel.set_terminator_count(8);
    const first = readMessage(channel);
    peer.write('12345678abc');
    peer.shutdownWrite();
    assertBytes(await withTimeout(first, 'the frame'), '12345678');
    assertError(await rejection(readMessage(channel)), Gio.io_error_quark(), Gio.IOErrorEnum.PARTIAL_INPUT);
    assertBytes(channel.get_collected(), 'abc');
});

test('a second read while one is pending is refused with PENDING', async t => {
    const {channel, peer} = pair(t);
    const first = readMessage(channel);
    const error = await rejection(readMessage(channel));
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.PENDING);
    assert(!await settled(first), 'the first read still waits');
    peer.write('one\n');
    assertEqual(text(await withTimeout(first, 'the message')), 'one');
});

/* Cancelling ---------------------------------------------------------------- */

test('a Gio.Cancellable cancels a read: CANCELLED, the next message goes to the next read', async t => {
    const {channel, peer} = pair(t);
    const cancellable = new Gio.Cancellable();
    const first = readMessage(channel, cancellable);
    await sleep(20);
    cancellable.cancel();
    assertError(await withTimeout(rejection(first), 'the cancellation'),
        Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED);
    peer.write('kept\n');
    assertEqual(text(await withTimeout(readMessage(channel), 'the message')), 'kept');

    // Cancelled before the call: rejected at once, nothing consumed.
    assertError(await rejection(readMessage(channel, cancellable)),
        Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED);
    peer.write('next\n');
    assertEqual(text(await withTimeout(readMessage(channel), 'the message')), 'next');
});

test('cancelling messages() through its cancellable ends the for await with CANCELLED', async t => {
    const {channel, peer} = pair(t);
    const cancellable = new Gio.Cancellable();
    const got = [];
    const collecting = (async () => {
        for await (const message of messages(channel, cancellable)) {
            got.push(text(message));
            if (got.length === 2)
                cancellable.cancel();
        }
    })();
    peer.write('a\nb\nc\n');
    assertError(await withTimeout(rejection(collecting), 'the cancellation'),
        Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED);
    assertEqual(got, ['a', 'b']);
    assertEqual(text(await withTimeout(readMessage(channel), 'the message')), 'c');
});

test('a message read as its read is cancelled goes to the next read', async t => {
    const {channel, peer, connection} = pair(t);
    const cancellable = new Gio.Cancellable();
    const first = readMessage(channel, cancellable);
    await sleep(20);
    // In the socket before the cancellation, which the channel handles in
    // an idle: it reads the message first.
    peer.write('kept\n');
    for (let i = 0; i < 1000 && connection.get_socket().condition_check(GLib.IOCondition.IN) === 0; i++)
        GLib.usleep(1000);
    cancellable.cancel();
    assertError(await withTimeout(rejection(first), 'the cancellation'),
        Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED);
    assertEqual(text(await withTimeout(readMessage(channel), 'the message', 1000)), 'kept');
});

/* Next to a handler ---------------------------------------------------------- */

test('with a terminator-found handler: a pending read gets the next message, the handler the others', async t => {
    const {channel, peer} = pair(t);
    const handled = [];
    channel.connect('terminator-found', (_ch, message) => handled.push(text(message)));
    const read = [];

    peer.write('a\n');               // no read pending: the handler
    await until(() => handled.length === 1, 'the handler');
    let pending = readMessage(channel);
    peer.write('b\n');               // the read
    read.push(text(await withTimeout(pending, 'b')));
    pending = readMessage(channel);
    peer.write('c\nd\n');            // c to the read; then none pending: d to the handler
    read.push(text(await withTimeout(pending, 'c')));
    await until(() => handled.length === 2, 'the handler');
    pending = readMessage(channel);
    peer.shutdownWrite();
    assertEqual(await withTimeout(pending, 'the end'), null);

    assertEqual(read, ['b', 'c']);
    assertEqual(handled, ['a', 'd']);
});

test('breaking out of for await leaves no read pending: the handler gets what follows', async t => {
    const {channel, peer} = pair(t);
    const handled = [];
    channel.connect('terminator-found', (_ch, message) => handled.push(text(message)));
    const got = [];
    const collecting = (async () => {
        for await (const message of messages(channel)) {
            got.push(text(message));
            if (got.length === 2)
                break;
        }
    })();
    peer.write('1\n');
    await until(() => got.length === 1, 'the first message');
    peer.write('2\n3\n4\n');
    await withTimeout(collecting, 'the loop');
    await until(() => handled.length === 2, 'the handler');
    assertEqual(got, ['1', '2']);
    assertEqual(handled, ['3', '4']);
});

/* Draining ----------------------------------------------------------------- */

test('drain() after pushing 4 MiB resolves once the slow peer took it all but the socket buffers', async t => {
    const {channel, peer} = pair(t);
    const total = 4 * 1024 * 1024;
    const chunk = 64 * 1024;
    const wire = pattern(total);
    for (let start = 0; start < total; start += chunk)
        assert(channel.push(wire.subarray(start, start + chunk)), 'push');
    const drained = drain(channel);
    channel.push(encoder.encode('after'));   // not waited for
    await sleep(50);
    assert(!await settled(drained), 'drained while the peer reads nothing');

    // The peer reads 64 KiB each millisecond.
    const received = [];
    let length = 0;
    const input = peer.connection.get_input_stream();
    const readSlowly = async () => {
        while (length < total + 5) {
            // eslint-disable-next-line no-await-in-loop
            const bytes = await input.read_bytes_async(chunk, GLib.PRIORITY_DEFAULT, null);
            if (bytes.get_size() === 0)
                throw new Error(`end of stream after ${length} bytes`);
            received.push(bytes.toArray());
            length += bytes.get_size();
            // eslint-disable-next-line no-await-in-loop
            await sleep(1);
        }
    };
    const reading = readSlowly();
    assertEqual(await withTimeout(drained, 'the drain', 15000), true);
    assert(channel.bytes_sent >= total, `bytes-sent ${channel.bytes_sent}`);
    await withTimeout(reading, 'the peer', 15000);
    const all = new Uint8Array(length);
    let offset = 0;
    for (const piece of received) {
        all.set(piece, offset);
        offset += piece.length;
    }
    assertBytes(all.subarray(0, total), wire);
    assertBytes(all.subarray(total), 'after');
    assertEqual(await drain(channel), true, 'nothing queued: at once');
});

test('drain() of a channel that closes first rejects with CLOSED', async t => {
    const {channel} = pair(t);
    channel.push(new Uint8Array(8 * 1024 * 1024));
    const drained = drain(channel);
    channel.close();
    assertError(await withTimeout(rejection(drained), 'the drain'), Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED);
    assertError(await rejection(drain(channel)), Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED);
    assert(channel.unsent_bytes > 0, `unsent-bytes ${channel.unsent_bytes}`);
    assertEqual(channel.get_unsent_bytes(), channel.unsent_bytes);
});

run();
