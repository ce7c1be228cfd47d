// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Helpers shared by the GJS tests: assertions, main loop waits, loopback TCP
// pairs (GJS has no socketpair()), a peer that reads and writes the other
// end, and a recorder of a channel's signals in the notation of
// docs/behaviour.md: c(x) data-collected, T(m) terminator-found, closed.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';

import Achat from 'gi://Achat?version=1.0';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/* Bytes ----------------------------------------------------------------- */

/** A Uint8Array from a string (UTF-8), a Uint8Array, an array or a GLib.Bytes. */
export function u8(data) {
    if (data === null || data === undefined)
        return new Uint8Array();
    if (typeof data === 'string')
        return encoder.encode(data);
    if (data instanceof GLib.Bytes)
        return data.toArray();
    return Uint8Array.from(data);
}

/** Decodes UTF-8 (for messages the tests know are text). */
export function text(data) {
    return decoder.decode(u8(data));
}

/** Bytes as the C tests print them: printable ASCII, escapes otherwise. */
export function show(data) {
    let out = '';
    for (const b of u8(data)) {
        if (b === 0x0d)
            out += '\\r';
        else if (b === 0x0a)
            out += '\\n';
        else if (b === 0x5c)
            out += '\\\\';
        else if (b >= 0x20 && b < 0x7f)
            out += String.fromCharCode(b);
        else
            out += `\\x${b.toString(16).padStart(2, '0')}`;
    }
    return out;
}

/** Concatenates Uint8Arrays. */
export function concat(chunks) {
    const length = chunks.reduce((n, c) => n + c.length, 0);
    const out = new Uint8Array(length);
    let pos = 0;
    for (const c of chunks) {
        out.set(c, pos);
        pos += c.length;
    }
    return out;
}

/** length bytes of a pattern that depends on seed, to tell messages apart. */
export function pattern(length, seed = 0) {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++)
        out[i] = 0x21 + (i * 7 + seed * 13) % 90;   // printable, never \r or \n
    return out;
}

/* Assertions ------------------------------------------------------------ */

export class AssertionError extends Error {
    constructor(message) {
        super(message);
        this.name = 'AssertionError';
    }
}

export function assert(condition, message = 'assertion failed') {
    if (!condition)
        throw new AssertionError(message);
}

function repr(value) {
    if (value instanceof Uint8Array)
        return `Uint8Array("${show(value)}")`;
    if (typeof value === 'bigint')
        return `${value}n`;
    try {
        return JSON.stringify(value);
    } catch {
        return String(value);
    }
}

function deepEqual(a, b) {
    if (Object.is(a, b))
        return true;
    if (a instanceof Uint8Array || b instanceof Uint8Array) {
        return a instanceof Uint8Array && b instanceof Uint8Array &&
            a.length === b.length && a.every((x, i) => x === b[i]);
    }
    if (Array.isArray(a) && Array.isArray(b))
        return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
    return false;
}

export function assertEqual(actual, expected, message = '') {
    if (!deepEqual(actual, expected)) {
        throw new AssertionError(`${message ? `${message}: ` : ''}expected ${
            repr(expected)}, got ${repr(actual)}`);
    }
}

/** Compares bytes, reporting the first difference of long ones. */
export function assertBytes(actual, expected, message = '') {
    const a = u8(actual), e = u8(expected);
    if (deepEqual(a, e))
        return;
    const prefix = message ? `${message}: ` : '';
    if (a.length + e.length < 200)
        throw new AssertionError(`${prefix}expected "${show(e)}", got "${show(a)}"`);
    let i = 0;
    while (i < a.length && i < e.length && a[i] === e[i])
        i++;
    throw new AssertionError(`${prefix}${a.length} bytes where ${e.length} were expected; first difference at offset ${i}`);
}

/** fn must throw; pattern, if given, must match the message. Returns the error. */
export function assertThrows(fn, pattern, message = '') {
    try {
        fn();
    } catch (e) {
        if (pattern && !pattern.test(String(e.message ?? e)))
            throw new AssertionError(`${message ? `${message}: ` : ''}threw "${e.message}", not matching ${pattern}`);
        return e;
    }
    throw new AssertionError(`${message ? `${message}: ` : ''}did not throw`);
}

/** error must be a GLib.Error of that domain and code. */
export function assertError(error, domain, code, message = '') {
    const prefix = message ? `${message}: ` : '';
    assert(error instanceof GLib.Error, `${prefix}expected a GLib.Error, got ${repr(error)}`);
    assert(error.matches(domain, code),
        `${prefix}expected error ${GLib.quark_to_string(domain)} ${code}, got ${
            GLib.quark_to_string(error.domain)} ${error.code}: ${error.message}`);
}

/* Main loop ------------------------------------------------------------- */

const context = GLib.MainContext.default();

/**
 * Iterates the default main context until condition() is true; throws after
 * timeout ms. A 10 ms tick keeps iteration(true) from sleeping past the
 * deadline.
 */
export function waitFor(condition, what = 'condition', timeout = 5000) {
    const deadline = GLib.get_monotonic_time() + timeout * 1000;
    const tick = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 10, () => GLib.SOURCE_CONTINUE);
    try {
        while (!condition()) {
            if (GLib.get_monotonic_time() > deadline)
                throw new AssertionError(`timed out after ${timeout} ms waiting for ${what}`);
            context.iteration(true);
        }
    } finally {
        GLib.source_remove(tick);
    }
}

/** Like waitFor(), but returns false on a timeout instead of throwing. */
export function waitQuietly(condition, timeout = 5000) {
    try {
        waitFor(condition, 'condition', timeout);
        return true;
    } catch (e) {
        if (e instanceof AssertionError)
            return false;
        throw e;
    }
}

/** Runs the main loop for ms milliseconds (to check that nothing happens). */
export function spin(ms) {
    const deadline = GLib.get_monotonic_time() + ms * 1000;
    const tick = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 5, () => GLib.SOURCE_CONTINUE);
    try {
        while (GLib.get_monotonic_time() < deadline)
            context.iteration(true);
    } finally {
        GLib.source_remove(tick);
    }
}

/** A few non-blocking iterations: lets pending work run. */
export function flush(n = 10) {
    for (let i = 0; i < n; i++)
        context.iteration(false);
}

/* Loopback pairs -------------------------------------------------------- */

/** 127.0.0.1 with port 0: the kernel picks a free port. */
export function anyLoopbackAddress() {
    return Gio.InetSocketAddress.new_from_string('127.0.0.1', 0);
}

/**
 * Listens on a loopback port chosen by the kernel.
 *
 * @param {Gio.SocketListener} listener a listener, service or Achat.Server
 * @returns {Gio.InetSocketAddress} the address it listens on
 */
export function listenOnLoopback(listener) {
    const [ok, address] = listener.add_address(anyLoopbackAddress(),
        Gio.SocketType.STREAM, Gio.SocketProtocol.TCP, null);
    assert(ok, 'add_address failed');
    assert(address.get_port() !== 0, 'no port chosen');
    return address;
}

/**
 * Runs the test file @file (an `import.meta.url`) again as a peer process,
 * `gjs -m FILE ...args ADDRESS`, and accepts its connection on a loopback
 * listener: a peer that writes from another process, so the test's main
 * loop is the only one reading. Both are closed (the process killed if
 * still running) when the test ends.
 *
 * @param {object} t the test
 * @param {string} file the peer's module URL
 * @param {string[]} args its first arguments; the address comes last
 * @returns {{connection: Gio.SocketConnection, child: Gio.Subprocess}}
 */
export function connectPeerProcess(t, file, args) {
    const listener = new Gio.SocketListener();
    t.defer(() => listener.close());
    const address = listenOnLoopback(listener);
    const gjs = GLib.file_read_link('/proc/self/exe');
    const [path] = GLib.filename_from_uri(file);
    const child = Gio.Subprocess.new([gjs, '-m', path, ...args, address.to_string()],
        Gio.SubprocessFlags.NONE);
    t.defer(() => {
        if (child.get_identifier() !== null)
            child.force_exit();
    });
    let connection = null, acceptError = null;
    listener.accept_async(null, (_listener, result) => {
        try {
            [connection] = listener.accept_finish(result);
        } catch (e) {
            acceptError = e;
        }
    });
    waitFor(() => connection !== null || acceptError !== null || child.get_identifier() === null,
        'the peer to connect', 20000);
    assert(connection !== null, `the peer did not connect: ${acceptError ? describeError(acceptError) : 'it exited'}`);
    return {connection, child};
}

/**
 * The peer process's side of connectPeerProcess(): connects to @address,
 * writes @data with blocking calls (nothing of it depends on the JS engine
 * calling back), shuts its output, then waits for the other side to close.
 *
 * @param {string} address where connectPeerProcess() listens
 * @param {Uint8Array} data what to write
 */
export function writeAsPeer(address, data) {
    const connection = new Gio.SocketClient().connect_to_host(address, 0, null);
    connection.get_socket().set_timeout(60);
    connection.get_output_stream().write_all(data, null);
    connection.get_socket().shutdown(false, true);
    const input = connection.get_input_stream();
    while (input.read_bytes(4096, null).get_size() > 0)
        ;
    connection.close(null);
}

/**
 * Two connected Gio.SocketConnections over loopback TCP.
 *
 * @returns {{server: Gio.SocketConnection, client: Gio.SocketConnection}}
 */
export function connectionPair() {
    const listener = new Gio.SocketListener();
    const address = listenOnLoopback(listener);
    // The kernel completes the handshake without accept(): connect, then
    // accept, both synchronous, in one thread.
    const client = new Gio.SocketClient().connect(address, null);
    const [server] = listener.accept(null);
    listener.close();
    return {server, client};
}

/**
 * Two connected bare Gio.Sockets over loopback TCP.
 *
 * @returns {{socket: Gio.Socket, peer: Gio.Socket}} `socket` is the
 *   accepted side
 */
export function socketPair() {
    const listener = new Gio.SocketListener();
    const address = listenOnLoopback(listener);
    const peer = Gio.Socket.new(Gio.SocketFamily.IPV4, Gio.SocketType.STREAM, Gio.SocketProtocol.TCP);
    peer.connect(address, null);
    const [socket] = listener.accept_socket(null);
    listener.close();
    socket.set_blocking(false);
    return {socket, peer};
}

/** A loopback port nobody listens on (bound, then closed). */
export function refusedAddress() {
    const socket = Gio.Socket.new(Gio.SocketFamily.IPV4, Gio.SocketType.STREAM, Gio.SocketProtocol.TCP);
    socket.bind(anyLoopbackAddress(), false);
    const port = socket.get_local_address().get_port();
    socket.close();
    return `127.0.0.1:${port}`;
}

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/** Each write on a TCP socket leaves at once, not held back for an ACK. */
export function setNoDelay(socket) {
    socket.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
}

/**
 * A reusable loopback listener: pairs are accepted from it one by one, the
 * peer's writes sent at once (TCP_NODELAY), for tests that make many.
 */
export class PairMaker {
    constructor() {
        this.listener = new Gio.SocketListener();
        this.address = listenOnLoopback(this.listener);
        this.client = new Gio.SocketClient();
    }

    /**
     * A channel (of type, Achat.Channel or a subclass) over the accepted
     * end, and the connected end (a Gio.SocketConnection) for the peer.
     */
    pair(type = Achat.Channel) {
        const peer = this.client.connect(this.address, null);
        const [server] = this.listener.accept(null);
        setNoDelay(peer.get_socket());
        return {channel: new type({stream: server}), peer};
    }

    close() {
        this.listener.close();
    }
}

/* The other end ---------------------------------------------------------- */

/**
 * The test's end of a connection: writes synchronously (small amounts: the
 * kernel buffers them) or asynchronously, and reads everything
 * asynchronously on the main loop once startReading() is called.
 */
export class Peer {
    /** @param {Gio.SocketConnection|Gio.Socket} connection */
    constructor(connection) {
        if (connection instanceof Gio.Socket)
            connection = connection.connection_factory_create_connection();
        this.connection = connection;
        this.chunks = [];
        this.eof = false;
        this.error = null;
        this.closed = false;
        this._cancellable = new Gio.Cancellable();
        this._reading = false;
        this._pendingWrites = 0;
    }

    /** Writes data (string, Uint8Array, GLib.Bytes) before returning. */
    write(data) {
        this.connection.get_output_stream().write_all(u8(data), null);
    }

    /** Writes data on the main loop; `peer.writing` is true until done. */
    writeAsync(data) {
        // write_bytes_async keeps a reference to the GLib.Bytes: no JS
        // buffer has to outlive the call.
        const writeRest = bytes => {
            this.connection.get_output_stream().write_bytes_async(bytes, GLib.PRIORITY_DEFAULT,
                this._cancellable, (stream, result) => {
                    let n;
                    try {
                        n = stream.write_bytes_finish(result);
                    } catch (e) {
                        this._pendingWrites--;
                        this.error ??= e;
                        return;
                    }
                    if (n < bytes.get_size())
                        writeRest(bytes.new_from_bytes(n, bytes.get_size() - n));
                    else
                        this._pendingWrites--;
                });
        };
        this._pendingWrites++;
        writeRest(data instanceof GLib.Bytes ? data : new GLib.Bytes(u8(data)));
    }

    get writing() {
        return this._pendingWrites > 0;
    }

    /** Reads everything that arrives, until EOF or an error. */
    startReading() {
        if (this._reading)
            return;
        this._reading = true;
        this._readMore();
    }

    _readMore() {
        this.connection.get_input_stream().read_bytes_async(65536, GLib.PRIORITY_DEFAULT,
            this._cancellable, (stream, result) => {
                let bytes;
                try {
                    bytes = stream.read_bytes_finish(result);
                } catch (e) {
                    if (!e.matches(Gio.IOErrorEnum, Gio.IOErrorEnum.CANCELLED))
                        this.error = e;
                    this._reading = false;
                    return;
                }
                if (bytes.get_size() === 0) {
                    this.eof = true;
                    this._reading = false;
                    return;
                }
                this.chunks.push(bytes.toArray());
                this._readMore();
            });
    }

    /** Everything read so far. */
    get received() {
        return concat(this.chunks);
    }

    get receivedLength() {
        return this.chunks.reduce((n, c) => n + c.length, 0);
    }

    /** Waits until n bytes have been read. */
    waitReceived(n, timeout = 5000) {
        this.startReading();
        waitFor(() => this.receivedLength >= n || this.eof || this.error,
            `${n} bytes at the peer`, timeout);
        assert(this.receivedLength >= n,
            `the peer got ${this.receivedLength} bytes (eof=${this.eof}, error=${this.error}) where ${n} were expected`);
    }

    /** Waits for the end of the stream (or an error). */
    waitEof(timeout = 5000) {
        this.startReading();
        waitFor(() => this.eof || this.error, 'EOF at the peer', timeout);
    }

    /** Stops writing: the channel reads EOF (the peer can still read). */
    shutdownWrite() {
        this.connection.get_socket().shutdown(false, true);
    }

    /** Closes the connection. */
    close() {
        if (this.closed)
            return;
        this.closed = true;
        this._cancellable.cancel();
        this.connection.close(null);
    }
}

/**
 * Makes the peer's write arrive as one read of its own: writes, then waits
 * until the channel has read it.
 */
export function feed(channel, peer, data) {
    const bytes = u8(data);
    const target = channel.get_bytes_received() + bytes.length;
    peer.write(bytes);
    waitFor(() => channel.get_bytes_received() >= target || channel.is_closing(),
        `the channel to read ${bytes.length} bytes`);
}

/* Recording signals ------------------------------------------------------ */

/**
 * Records a channel's signals: `log` in the notation of behaviour.md,
 * `messages` (GLib.Bytes of terminator-found, kept), `error` of closed.
 * With {collect: true} it also connects to data-collected (which makes the
 * channel emit it; without a handler the channel takes its fast path).
 */
export class Recorder {
    constructor(channel, {collect = false} = {}) {
        this.channel = channel;
        this.log = [];
        this.messages = [];
        this.collectedData = [];
        this.closedCount = 0;
        this.error = undefined;
        this.afterClosed = [];
        this.collectedAtClose = null;
        this.ids = [];
        if (collect) {
            this.ids.push(channel.connect('data-collected', (_ch, data) => {
                this._noteAfterClosed('data-collected');
                this.collectedData.push(data);
                this.log.push(`c(${show(data)})`);
            }));
        }
        this.ids.push(channel.connect('terminator-found', (_ch, message) => {
            this._noteAfterClosed('terminator-found');
            this.messages.push(message);
            this.log.push(`T(${show(message)})`);
        }));
        this.ids.push(channel.connect('closed', (ch, error) => {
            this.closedCount++;
            this.error = error;
            this.collectedAtClose = ch.get_collected();
            this.log.push(error ? `closed(${GLib.quark_to_string(error.domain)}:${error.code})` : 'closed');
        }));
    }

    _noteAfterClosed(what) {
        if (this.closedCount > 0)
            this.afterClosed.push(what);
    }

    get logText() {
        return this.log.join(' ');
    }

    get closed() {
        return this.closedCount > 0;
    }

    waitClosed(timeout = 5000) {
        waitFor(() => this.closedCount > 0, 'the channel to close', timeout);
    }

    waitMessages(n, timeout = 5000) {
        waitFor(() => this.messages.length >= n || this.closed, `${n} messages`, timeout);
        assert(this.messages.length >= n,
            `got ${this.messages.length} messages (${this.logText}) where ${n} were expected`);
    }

    /** Asserts closed came once and nothing came after it. */
    assertClosedOnce() {
        assertEqual(this.closedCount, 1, 'closed emissions');
        assertEqual(this.afterClosed, [], 'signals after closed');
    }
}

/**
 * A channel over one end of a loopback pair and a Peer on the other.
 *
 * @param {object} t the test context (the pair is closed after the test)
 * @param {object} [options] `over`: 'stream' (a Gio.SocketConnection, the
 *   default) or 'socket' (the bare Gio.Socket); `type`: the channel class;
 *   `terminator`: a string or Uint8Array; `collect`: record data-collected;
 *   `record`: false for no Recorder (no handler connected: reads and the
 *   class handler see the messages), recorder then null; `nodelay`: the
 *   peer's small writes leave at once (TCP_NODELAY), not held back by
 *   Nagle's algorithm until the channel's ACK
 */
export function channelPair(t, {over = 'stream', type = Achat.Channel, terminator = null, collect = false,
    record = true, nodelay = false} = {}) {
    let channel, peer;
    if (over === 'socket') {
        const pair = socketPair();
        channel = new type({socket: pair.socket});
        peer = new Peer(pair.peer);
    } else {
        const pair = connectionPair();
        channel = new type({stream: pair.server});
        peer = new Peer(pair.client);
    }
    if (nodelay)
        setNoDelay(peer.connection.get_socket());
    if (terminator !== null)
        channel.set_terminator(u8(terminator));
    const recorder = record ? new Recorder(channel, {collect}) : null;
    t.defer(() => {
        channel.close();
        peer.close();
    });
    return {channel, peer, recorder};
}

/* Promises on the main loop ---------------------------------------------- */

/** Runs the main loop for ms milliseconds (a promise). */
export function sleep(ms) {
    return new Promise(resolve => GLib.timeout_add(GLib.PRIORITY_DEFAULT, ms, () => {
        resolve();
        return GLib.SOURCE_REMOVE;
    }));
}

/** Waits (on the main loop, from a promise) until condition() is true. */
export async function until(condition, what, timeout = 5000) {
    const deadline = GLib.get_monotonic_time() + timeout * 1000;
    while (!condition()) {
        if (GLib.get_monotonic_time() > deadline)
            throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
        // eslint-disable-next-line no-await-in-loop
        await sleep(2);
    }
}

/** promise, or a rejection after timeout ms. */
export function withTimeout(promise, what, timeout = 5000) {
    let id = 0;
    const timer = new Promise((_resolve, reject) => {
        id = GLib.timeout_add(GLib.PRIORITY_DEFAULT, timeout, () => {
            id = 0;
            reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
            return GLib.SOURCE_REMOVE;
        });
    });
    return Promise.race([promise, timer]).finally(() => {
        if (id)
            GLib.source_remove(id);
    });
}

/* The protocol scripts of tests/data/pull-scripts.json -------------------- */

/** A Uint8Array of a string's code points, each a byte (latin-1). */
export function latin1(string) {
    const out = new Uint8Array(string.length);
    for (let i = 0; i < string.length; i++) {
        const code = string.charCodeAt(i);
        assert(code < 256, `code point ${code} in a byte string`);
        out[i] = code;
    }
    return out;
}

/** Whether two Uint8Arrays (or arrays) hold the same bytes. */
export function sameBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** An error as one line, a GLib.Error with its domain and code. */
export function describeError(error) {
    if (error instanceof GLib.Error)
        return `GLib.Error ${GLib.quark_to_string(error.domain)} ${error.code}: ${error.message}`;
    return String(error?.stack ?? error);
}

/**
 * The scripts of tests/data/pull-scripts.json (see its comment), bytes as
 * Uint8Arrays: [{name, stream, steps: [{framing: {kind, bytes, count},
 * message}], rest}].
 */
export function loadPullScripts() {
    let srcdir = GLib.getenv('G_TEST_SRCDIR');
    if (!srcdir) {
        // Run by hand: tests/ is the parent of this file's directory.
        const [here] = GLib.filename_from_uri(import.meta.url);
        srcdir = GLib.path_get_dirname(GLib.path_get_dirname(here));
    }
    const path = GLib.build_filenamev([srcdir, 'data', 'pull-scripts.json']);
    const [ok, contents] = GLib.file_get_contents(path);
    assert(ok, `cannot read ${path}`);
    const json = JSON.parse(decoder.decode(contents));
    return json.scripts.map(script => ({
        name: script.name,
        stream: latin1(script.stream),
        steps: script.steps.map(step => ({
            framing: {...step.framing, bytes: step.framing.bytes !== undefined ? latin1(step.framing.bytes) : undefined},
            message: latin1(step.message),
        })),
        rest: latin1(script.rest),
    }));
}

export function framingName(framing) {
    switch (framing.kind) {
    case 'bytes':
        return `"${show(framing.bytes)}"`;
    case 'count':
        return `count ${framing.count}`;
    default:
        return framing.kind;
    }
}

/** Whether two framings of scripts are the same. */
export function sameFraming(a, b) {
    return a.kind === b.kind && a.count === b.count &&
        (a.bytes === undefined ? b.bytes === undefined : b.bytes !== undefined && sameBytes(a.bytes, b.bytes));
}

/** Sets the framing of a script's step on the channel. */
export function applyFraming(channel, framing) {
    switch (framing.kind) {
    case 'bytes':
        channel.set_terminator(framing.bytes);
        break;
    case 'line':
        channel.set_terminators(['\r\n', '\n']);
        break;
    case 'count':
        channel.set_terminator_count(framing.count);
        break;
    case 'length16':
        channel.set_terminator_length_prefix(2, Achat.ByteOrder.BIG_ENDIAN, 0, 0);
        break;
    case 'netstring':
        channel.set_terminator_text_length(10, ':', ',', 0);
        break;
    case 'chunk':
        channel.set_terminator_text_length(16, '\r\n', '\r\n', 0);
        break;
    default:
        throw new Error(`unknown framing ${framing.kind}`);
    }
}

/**
 * Cut lists for a stream of length bytes: none (one write), cut in two at
 * byte 1, 1 + every, ..., and at every byte (one byte per write).
 */
export function splits(length, every = 1) {
    const out = [[]];
    for (let cut = 1; cut < length; cut += every)
        out.push([cut]);
    const bytes = [];
    for (let cut = 1; cut < length; cut++)
        bytes.push(cut);
    out.push(bytes);
    return out;
}

export function cutsName(cuts, length) {
    if (cuts.length === 0)
        return 'one write';
    if (cuts.length === length - 1 && length > 2)
        return 'one byte per write';
    return `cut at ${cuts.join(',')}`;
}
