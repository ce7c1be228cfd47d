// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// STARTTLS from GJS: a server and a client channel over a loopback pair
// (GJS has no socketpair(); the kernel picks the port) switch to TLS with a
// self-signed certificate made with openssl at start, through
// Gio._promisify and await; the bytes on the wire; plaintext injected
// behind the STARTTLS command or its reply
// (ACHAT_ERROR_PLAINTEXT_AFTER_STARTTLS); a certificate the client does not
// trust, and accepting it from accept-certificate.
//
// Skipped as a whole ("1..0 # SKIP") without openssl or a TLS backend.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {
    AssertionError, Peer, assert, assertBytes, assertEqual, assertError, channelPair as channelWithPeer, concat,
    connectionPair, socketPair, text, u8,
} from './common.js';
import {test, run} from './tap.js';

Gio._promisify(Achat.Channel.prototype, 'start_tls_client_async', 'start_tls_client_finish');
Gio._promisify(Achat.Channel.prototype, 'start_tls_server_async', 'start_tls_server_finish');

/* A handshake on a loaded machine, or under ASan, takes more than the usual
 * 5 s. */
const TLS_TIMEOUT = 20000;

/* Prerequisites and the certificate ------------------------------------------- */

function missingPrerequisite() {
    if (GLib.find_program_in_path('openssl') === null)
        return 'openssl is not installed';
    if (!Gio.TlsBackend.get_default().supports_tls())
        return 'no GIO TLS backend (glib-networking)';
    return null;
}

const skipReason = missingPrerequisite();
if (skipReason !== null) {
    print(`1..0 # SKIP ${skipReason}`);
    System.exit(0);
}

/*
 * The certificate and key, in a temporary directory that lives until the
 * last test is done: the file database reads its file at each handshake.
 */
function makeCertificate() {
    const directory = GLib.Dir.make_tmp('achat-tls-XXXXXX');
    const cert = GLib.build_filenamev([directory, 'cert.pem']);
    const key = GLib.build_filenamev([directory, 'key.pem']);
    const remove = () => {
        for (const file of [cert, key])
            GLib.unlink(file);
        GLib.rmdir(directory);
    };
    try {
        const process = Gio.Subprocess.new(['openssl', 'req', '-x509', '-newkey', 'ec',
            '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
            '-subj', '/CN=localhost', '-days', '2',
            '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
        Gio.SubprocessFlags.STDOUT_PIPE | Gio.SubprocessFlags.STDERR_MERGE);
        const [, output] = process.communicate_utf8(null, null);
        if (!process.get_successful())
            throw new Error(`openssl failed: ${output}`);
        return {
            certificate: Gio.TlsCertificate.new_from_files(cert, key),
            database: Gio.TlsFileDatabase.new(cert),
            remove,
        };
    } catch (e) {
        remove();
        throw e;
    }
}

const {certificate: CERTIFICATE, database: DATABASE, remove: removeCertificateFiles} = makeCertificate();

/* Waiting without a nested loop ---------------------------------------------- */

/** Resolves when condition() is true; rejects after timeout ms. */
function until(condition, what, timeout = TLS_TIMEOUT) {
    return new Promise((resolve, reject) => {
        const deadline = GLib.get_monotonic_time() + timeout * 1000;
        const check = () => {
            try {
                if (condition()) {
                    resolve();
                    return GLib.SOURCE_REMOVE;
                }
            } catch (e) {
                reject(e);
                return GLib.SOURCE_REMOVE;
            }
            if (GLib.get_monotonic_time() > deadline) {
                reject(new AssertionError(`timed out after ${timeout} ms waiting for ${what}`));
                return GLib.SOURCE_REMOVE;
            }
            return GLib.SOURCE_CONTINUE;
        };
        if (check() === GLib.SOURCE_CONTINUE)
            GLib.timeout_add(GLib.PRIORITY_DEFAULT, 5, check);
    });
}

/** promise, or a rejection after timeout ms. */
function withTimeout(promise, what, timeout = TLS_TIMEOUT) {
    let id = 0;
    const timer = new Promise((_resolve, reject) => {
        id = GLib.timeout_add(GLib.PRIORITY_DEFAULT, timeout, () => {
            id = 0;
            reject(new AssertionError(`timed out after ${timeout} ms waiting for ${what}`));
            return GLib.SOURCE_REMOVE;
        });
    });
    return Promise.race([promise, timer]).finally(() => {
        if (id)
            GLib.source_remove(id);
    });
}

/** Runs the main loop for ms milliseconds. */
function sleep(ms) {
    return new Promise(resolve => GLib.timeout_add(GLib.PRIORITY_DEFAULT, ms, () => {
        resolve();
        return GLib.SOURCE_REMOVE;
    }));
}

function describe(error) {
    if (error instanceof GLib.Error)
        return `${GLib.quark_to_string(error.domain)} ${error.code}: ${error.message}`;
    return String(error);
}

/* The two ends of a STARTTLS protocol ---------------------------------------- */

/** Records a channel's messages, data-collected pieces and closed. */
class Record {
    constructor(channel) {
        this.messages = [];
        this.collected = [];
        this.closedCount = 0;
        this.error = undefined;
        channel.connect('data-collected', (_ch, data) => this.collected.push(text(data)));
        channel.connect('terminator-found', (_ch, message) => this.messages.push(text(message)));
        channel.connect('closed', (_ch, error) => {
            this.closedCount++;
            this.error = error;
        });
    }

    get closed() {
        return this.closedCount > 0;
    }
}

/**
 * The outcome of a promisified start_tls call: `settled` resolves to
 * {value} or {error}, never rejects.
 */
class TlsOutcome {
    constructor() {
        this.result = null;
        this.settled = new Promise(resolve => {
            this._resolve = resolve;
        });
    }

    follow(promise) {
        promise.then(value => {
            this.result = {value};
            this._resolve(this.result);
        }, error => {
            this.result = {error};
            this._resolve(this.result);
        });
    }

    get done() {
        return this.result !== null;
    }
}

/** On "STARTTLS": push "220 go", start TLS; echoes other lines. */
class Server {
    constructor(channel, {linesBefore = []} = {}) {
        this.channel = channel;
        this.record = new Record(channel);
        this.tls = new TlsOutcome();
        this.handshaking = [];
        this.tlsDoneAtMessage = [];
        channel.set_terminator(u8('\r\n'));
        channel.connect('tls-handshaking', (_ch, conn) => this.handshaking.push(conn));
        channel.connect('terminator-found', (ch, message) => {
            const line = text(message);
            this.tlsDoneAtMessage.push(this.tls.done);
            if (line === 'STARTTLS') {
                for (const l of linesBefore)
                    ch.push(u8(`${l}\r\n`));
                ch.push(u8('220 go\r\n'));
                this.tls.follow(ch.start_tls_server_async(CERTIFICATE, null));
            } else {
                ch.push(u8(`echo: ${line}\r\n`));
            }
        });
    }
}

/** Pushes "STARTTLS"; on "220 go" starts TLS and pushes "hello" at once. */
class Client {
    constructor(channel, {identity = 'localhost', database = true, accept = null} = {}) {
        this.channel = channel;
        this.record = new Record(channel);
        this.tls = new TlsOutcome();
        this.handshaking = [];
        this.acceptCalls = [];
        channel.set_terminator(u8('\r\n'));
        channel.connect('tls-handshaking', (_ch, conn) => {
            this.handshaking.push(conn);
            if (database)
                conn.set_database(DATABASE);
            if (accept !== null) {
                conn.connect('accept-certificate', (_conn, cert, errors) => {
                    this.acceptCalls.push({cert, errors});
                    return accept;
                });
            }
        });
        // snippet-begin starttls-client
        channel.connect('terminator-found', (ch, message) => {
            if (text(message) === '220 go') {
                const connectable = identity ? Gio.NetworkAddress.new(identity, 0) : null;
                this.tls.follow(ch.start_tls_client_async(connectable, null));
                ch.push(u8('hello\r\n'));
            }
        });
        // snippet-end starttls-client
        channel.push(u8('STARTTLS\r\n'));
    }
}

/** A server and a client channel over a loopback pair. */
function channelPair(t, over = 'socket') {
    let server, client;
    if (over === 'socket') {
        const pair = socketPair();
        pair.peer.set_blocking(false);
        server = new Achat.Channel({socket: pair.socket});
        client = new Achat.Channel({socket: pair.peer});
    } else {
        const pair = connectionPair();
        server = new Achat.Channel({stream: pair.server});
        client = new Achat.Channel({stream: pair.client});
    }
    t.defer(() => {
        server.close();
        client.close();
    });
    return {server, client};
}


/**
 * Two loopback pairs and a relay between them that records each
 * direction: the wire between a client and a server channel.
 */
function relayPair(t) {
    const toClient = connectionPair();
    const toServer = connectionPair();
    const relay = {toServer: [], toClient: [], cancellable: new Gio.Cancellable()};
    const pump = (from, to, record) => {
        from.get_input_stream().read_bytes_async(65536, GLib.PRIORITY_DEFAULT, relay.cancellable,
            (stream, result) => {
                let bytes;
                try {
                    bytes = stream.read_bytes_finish(result);
                } catch {
                    return;
                }
                if (bytes.get_size() === 0) {
                    try {
                        to.get_socket().shutdown(false, true);
                    } catch {}
                    return;
                }
                record.push(bytes.toArray());
                to.get_output_stream().write_all(bytes.toArray(), null);
                pump(from, to, record);
            });
    };
    pump(toClient.client, toServer.client, relay.toServer);
    pump(toServer.client, toClient.client, relay.toClient);
    const client = new Achat.Channel({stream: toClient.server});
    const server = new Achat.Channel({stream: toServer.server});
    t.defer(() => {
        relay.cancellable.cancel();
        client.close();
        server.close();
        toClient.client.close(null);
        toServer.client.close(null);
    });
    return {server, client, relay};
}

/* Tests ---------------------------------------------------------------------- */

for (const over of ['socket', 'stream']) {
    test(`full STARTTLS over a ${over}: both switch, "hello" waits for the handshake, the echo comes back`, async t => {
        const {server: serverChannel, client: clientChannel} = channelPair(t, over);
        assertEqual(serverChannel.get_tls_connection(), null);
        assertEqual(clientChannel.get_tls_connection(), null);
        const server = new Server(serverChannel);
        const client = new Client(clientChannel);

        const [serverResult, clientResult] = await withTimeout(
            Promise.all([server.tls.settled, client.tls.settled]), 'both handshakes');
        assertEqual(serverResult.value, true, `server: ${describe(serverResult.error)}`);
        assertEqual(clientResult.value, true, `client: ${describe(clientResult.error)}`);

        await until(() => client.record.messages.length >= 2 || client.record.closed, 'the echo');
        assertEqual(client.record.messages, ['220 go', 'echo: hello']);
        assertEqual(server.record.messages, ['STARTTLS', 'hello']);
        assertEqual(server.tlsDoneAtMessage, [false, true], 'server TLS finished when each line came');

        const serverTls = serverChannel.get_tls_connection();
        const clientTls = clientChannel.get_tls_connection();
        assert(serverTls instanceof Gio.TlsServerConnection, `server tls-connection ${serverTls}`);
        assert(clientTls instanceof Gio.TlsClientConnection, `client tls-connection ${clientTls}`);
        assertEqual(server.handshaking.length, 1);
        assertEqual(client.handshaking.length, 1);
        assert(server.handshaking[0] === serverTls, 'tls-handshaking gave the server connection');
        assert(client.handshaking[0] === clientTls, 'tls-handshaking gave the client connection');
        assert(clientTls.get_peer_certificate().is_same(CERTIFICATE), 'the peer certificate');
        assertEqual(clientTls.get_peer_certificate_errors(), 0);
        assert(serverChannel.tls_connection === serverTls, 'the tls-connection property');

        clientChannel.push(u8('second\r\n'));
        await until(() => client.record.messages.length >= 3 || client.record.closed, 'the second echo');
        assertEqual(client.record.messages[2], 'echo: second');
        assert(!server.record.closed && !client.record.closed, 'closed too early');

        clientChannel.close_when_done();
        await until(() => server.record.closed && client.record.closed, 'both channels to close');
        assertEqual(client.record.error, null, 'client closed with');
        assertEqual(server.record.error, null, `server closed with ${describe(server.record.error)}`);
    });
}

test('1 MiB of lines pushed before "220 go" all go out in plaintext before the handshake', async t => {
    const lines = Array.from({length: 1024}, (_, i) => `${String(i).padStart(6, '0')} ${'x'.repeat(1017)}`);
    const {server: serverChannel, client: clientChannel} = channelPair(t);
    const server = new Server(serverChannel, {linesBefore: lines});
    const client = new Client(clientChannel);
    const [serverResult, clientResult] = await withTimeout(
        Promise.all([server.tls.settled, client.tls.settled]), 'both handshakes');
    assertEqual(serverResult.value, true, `server: ${describe(serverResult.error)}`);
    assertEqual(clientResult.value, true, `client: ${describe(clientResult.error)}`);
    await until(() => client.record.messages.length >= lines.length + 2 || client.record.closed, 'the echo');
    assertEqual(client.record.messages.length, lines.length + 2);
    assert(client.record.messages.slice(0, lines.length).every((m, i) => m === lines[i]), 'the lines');
    assertEqual(client.record.messages.slice(lines.length), ['220 go', 'echo: hello']);
});

test('on the wire: plaintext up to STARTTLS and "220 go", then TLS records only', async t => {
    const {server: serverChannel, client: clientChannel, relay} = relayPair(t);
    const server = new Server(serverChannel);
    const client = new Client(clientChannel);
    await until(() => client.record.messages.length >= 2 || client.record.closed || server.record.closed,
        'the echo');
    assertEqual(client.record.messages, ['220 go', 'echo: hello']);
    const toServer = concat(relay.toServer), toClient = concat(relay.toClient);
    assertBytes(toServer.subarray(0, 10), 'STARTTLS\r\n');
    assertBytes(toClient.subarray(0, 8), '220 go\r\n');
    assertBytes(toServer.subarray(10, 12), [0x16, 0x03], 'a TLS handshake record to the server');
    assertBytes(toClient.subarray(8, 10), [0x16, 0x03], 'a TLS handshake record to the client');
    const latin1 = bytes => String.fromCharCode(...bytes);
    assert(!latin1(toServer).includes('hello'), '"hello" went in plaintext');
    assert(!latin1(toClient).includes('echo'), '"echo" went in plaintext');
});

async function serverRefuses(t, data, pending) {
    const {channel, peer} = channelWithPeer(t, {record: false});
    // Written before the channel reads: the command and what follows come
    // in one read.
    peer.write(data);
    const server = new Server(channel);
    const {error} = await withTimeout(server.tls.settled, 'start_tls_server_finish');
    assertError(error, Achat.error_quark(), Achat.Error.PLAINTEXT_AFTER_STARTTLS, 'finish');
    assert(error.message.includes(`${pending} bytes`), error.message);
    assertEqual(server.record.messages, ['STARTTLS']);
    assert(!server.record.collected.some(c => c.includes('RCPT')), `collected ${server.record.collected}`);
    assertEqual(server.record.closedCount, 1);
    assertError(server.record.error, Achat.error_quark(), Achat.Error.PLAINTEXT_AFTER_STARTTLS, 'closed');
    assertEqual(server.record.error.message, error.message);
    assertEqual(server.handshaking.length, 0);
    assertEqual(channel.get_tls_connection(), null);
    peer.startReading();
    await until(() => peer.eof || peer.error, 'EOF at the peer');
    assertEqual(peer.error, null);
    assertEqual(text(peer.received), '220 go\r\n');
}

test('injection behind STARTTLS on the server side: PLAINTEXT_AFTER_STARTTLS, nothing delivered', async t => {
    await serverRefuses(t, 'STARTTLS\r\nRCPT TO:<evil>\r\n', 16);
});

test('injection of a partial line behind STARTTLS on the server side', async t => {
    await serverRefuses(t, 'STARTTLS\r\nRCPT', 4);
});

test('injection behind "220 go" on the client side: PLAINTEXT_AFTER_STARTTLS, no ClientHello', async t => {
    const {channel, peer} = channelWithPeer(t, {record: false});
    const client = new Client(channel);
    peer.startReading();
    await until(() => peer.receivedLength >= 10 || peer.eof, 'STARTTLS at the peer');
    assertEqual(text(peer.received), 'STARTTLS\r\n');
    peer.write('220 go\r\nINJECTED\r\n');
    const {error} = await withTimeout(client.tls.settled, 'start_tls_client_finish');
    assertError(error, Achat.error_quark(), Achat.Error.PLAINTEXT_AFTER_STARTTLS, 'finish');
    assert(error.message.includes('10 bytes'), error.message);
    assertEqual(client.record.messages, ['220 go']);
    assert(!client.record.collected.some(c => c.includes('INJECTED')), `collected ${client.record.collected}`);
    assertEqual(client.record.closedCount, 1);
    assertError(client.record.error, Achat.error_quark(), Achat.Error.PLAINTEXT_AFTER_STARTTLS, 'closed');
    assertEqual(client.record.error.message, error.message);
    assertEqual(client.handshaking.length, 0);
    await until(() => peer.eof || peer.error, 'EOF at the peer');
    // Neither a ClientHello nor the "hello" pushed after start_tls.
    assertEqual(text(peer.received), 'STARTTLS\r\n');
});

async function handshake(t, clientOptions) {
    const {server: serverChannel, client: clientChannel} = channelPair(t);
    const server = new Server(serverChannel);
    const client = new Client(clientChannel, clientOptions);
    const [serverResult, clientResult] = await withTimeout(
        Promise.all([server.tls.settled, client.tls.settled]), 'both handshakes');
    return {server, client, serverResult, clientResult};
}

test('a self-signed certificate without a database: BAD_CERTIFICATE, both channels closed', async t => {
    const {server, client, serverResult, clientResult} = await handshake(t, {database: false});
    assertError(clientResult.error, Gio.tls_error_quark(), Gio.TlsError.BAD_CERTIFICATE, 'client finish');
    await until(() => server.record.closed && client.record.closed, 'both channels to close');
    assertError(client.record.error, Gio.tls_error_quark(), Gio.TlsError.BAD_CERTIFICATE, 'client closed');
    assert(serverResult.error instanceof GLib.Error, `server finish gave ${serverResult.value}`);
    assert(server.record.error instanceof GLib.Error, `server closed with ${server.record.error}`);
    assertEqual(client.record.closedCount, 1);
    assertEqual(server.record.closedCount, 1);
    assertEqual(server.record.messages, ['STARTTLS']);
    assertEqual(client.record.messages, ['220 go']);
});

test('accept-certificate returning true accepts it (called with UNKNOWN_CA)', async t => {
    const {client, serverResult, clientResult} = await handshake(t, {database: false, accept: true});
    assertEqual(clientResult.value, true, `client: ${describe(clientResult.error)}`);
    assertEqual(serverResult.value, true, `server: ${describe(serverResult.error)}`);
    assertEqual(client.acceptCalls.length, 1);
    const {cert, errors} = client.acceptCalls[0];
    assert(cert.is_same(CERTIFICATE), 'the certificate offered');
    assert(errors & Gio.TlsCertificateFlags.UNKNOWN_CA, `errors ${errors}`);
    await until(() => client.record.messages.length >= 2 || client.record.closed, 'the echo');
    assertEqual(client.record.messages, ['220 go', 'echo: hello']);
});

test('accept-certificate returning false: BAD_CERTIFICATE', async t => {
    const {server, client, clientResult} = await handshake(t, {database: false, accept: false});
    assertEqual(client.acceptCalls.length, 1);
    assertError(clientResult.error, Gio.tls_error_quark(), Gio.TlsError.BAD_CERTIFICATE, 'client finish');
    await until(() => client.record.closed, 'the client to close');
    assertEqual(server.record.messages, ['STARTTLS']);
});

test('a trusted certificate for another name: BAD_IDENTITY, refused', async t => {
    const {client, clientResult} = await handshake(t, {identity: 'example.org', accept: false});
    assertEqual(client.acceptCalls.length, 1);
    const {errors} = client.acceptCalls[0];
    assert(errors & Gio.TlsCertificateFlags.BAD_IDENTITY, `errors ${errors}`);
    assert(!(errors & Gio.TlsCertificateFlags.UNKNOWN_CA), `errors ${errors}`);
    assertError(clientResult.error, Gio.tls_error_quark(), Gio.TlsError.BAD_CERTIFICATE, 'client finish');
});

test('start_tls: a second call while one is under way fails with PENDING', async t => {
    const {channel} = channelWithPeer(t, {record: false});
    const first = new TlsOutcome(), second = new TlsOutcome();
    first.follow(channel.start_tls_client_async(null, null));
    second.follow(channel.start_tls_client_async(null, null));
    const {error} = await withTimeout(second.settled, 'the second call');
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.PENDING);
    channel.close();
    const result = await withTimeout(first.settled, 'the first call');
    assert(result.error instanceof GLib.Error, `the first call gave ${result.value}`);
});

test('start_tls on a closed channel fails with CLOSED', async t => {
    const {channel} = channelWithPeer(t, {record: false});
    channel.close();
    const outcome = new TlsOutcome();
    outcome.follow(channel.start_tls_server_async(CERTIFICATE, null));
    const {error} = await withTimeout(outcome.settled, 'the call');
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED);
});

test('close() from tls-handshaking: CLOSED, closed once without error, no ClientHello', async t => {
    const {channel, peer} = channelWithPeer(t, {record: false});
    const record = new Record(channel);
    let handshaking = 0;
    channel.connect('tls-handshaking', ch => {
        handshaking++;
        ch.close();
    });
    const outcome = new TlsOutcome();
    outcome.follow(channel.start_tls_client_async(null, null));
    const {error} = await withTimeout(outcome.settled, 'the call');
    assertEqual(handshaking, 1);
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED);
    assertEqual(record.closedCount, 1);
    assertEqual(record.error, null);
    peer.startReading();
    await until(() => peer.eof || peer.error, 'EOF at the peer');
    assertEqual(peer.receivedLength, 0, 'bytes sent');
});

test('close() during the handshake: CLOSED, closed once without error', async t => {
    const {channel, peer} = channelWithPeer(t, {record: false});
    const record = new Record(channel);
    const outcome = new TlsOutcome();
    outcome.follow(channel.start_tls_client_async(null, null));
    peer.startReading();
    await until(() => peer.receivedLength >= 5 || peer.eof, 'the ClientHello');
    assertBytes(peer.received.subarray(0, 2), [0x16, 0x03], 'a TLS handshake record');
    assert(!outcome.done, 'finished before the peer answered');
    channel.close();
    const {error} = await withTimeout(outcome.settled, 'the call');
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.CLOSED);
    assertEqual(record.closedCount, 1);
    assertEqual(record.error, null);
});

test('a peer that does not speak TLS after "220 go": a G_TLS_ERROR, closed with it', async t => {
    const {channel, peer} = channelWithPeer(t, {record: false});
    peer.write('STARTTLS\r\n');
    const server = new Server(channel);
    peer.startReading();
    await until(() => peer.receivedLength >= 8 || peer.eof, '"220 go" at the peer');
    assertEqual(text(peer.received), '220 go\r\n');
    peer.write('RCPT TO:<late>\r\n'.repeat(4));
    const {error} = await withTimeout(server.tls.settled, 'start_tls_server_finish');
    assert(error instanceof GLib.Error, 'finish succeeded');
    assertEqual(GLib.quark_to_string(error.domain), 'g-tls-error-quark', describe(error));
    assertEqual(server.record.messages, ['STARTTLS']);
    assertEqual(server.record.closedCount, 1);
    assertEqual(server.record.error?.message, error.message);
});

test('start_tls cancelled: CANCELLED, and the channel closes with it', async t => {
    // The last test: the certificate files go after it.
    t.defer(removeCertificateFiles);
    const {channel} = channelWithPeer(t, {record: false});
    const record = new Record(channel);
    const cancellable = new Gio.Cancellable();
    const outcome = new TlsOutcome();
    outcome.follow(channel.start_tls_client_async(null, cancellable));
    await sleep(20);
    cancellable.cancel();
    const {error} = await withTimeout(outcome.settled, 'the call');
    assertError(error, Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED);
    await until(() => record.closed, 'the channel to close');
    assertError(record.error, Gio.io_error_quark(), Gio.IOErrorEnum.CANCELLED, 'closed');
});

run();
