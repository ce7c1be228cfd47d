// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Promises for Achat.Channel in GJS:
//
//   import {drain, messages, readMessage} from './achat.js';
//
//   const reply = await readMessage(channel);         // GLib.Bytes; null at the end
//   const line = await readLine(channel);             // up to "\r\n" or "\n"
//   const head = await readUntil(channel, '\r\n\r\n');
//   const body = await readBytes(channel, length);    // exactly that many bytes
//   for await (const message of messages(channel))    // until the end
//       ...
//   await drain(channel);                             // what was pushed is written
//   const channel = await connect(connectable);       // a Gio.SocketConnectable
//
// Each read is framed when it is called: the terminator in force then (or
// the one readLine(), readUntil() or readBytes() sets, which stays in force)
// frames the message it returns, whenever the bytes came.
//
// Importing the module also makes read_message_async(), read_line_async(),
// read_until_async(), read_bytes_async() and drain_async() return a promise
// when called without a callback (Gio._promisify()).

import Gio from 'gi://Gio';

import Achat from 'gi://Achat?version=1.0';

Gio._promisify(Achat.Channel.prototype, 'read_message_async', 'read_message_finish');
Gio._promisify(Achat.Channel.prototype, 'read_line_async', 'read_line_finish');
Gio._promisify(Achat.Channel.prototype, 'read_until_async', 'read_until_finish');
Gio._promisify(Achat.Channel.prototype, 'read_bytes_async', 'read_bytes_finish');
Gio._promisify(Achat.Channel.prototype, 'drain_async', 'drain_finish');
Gio._promisify(Achat.Channel, 'connect_async', 'connect_finish');

/**
 * Connects to a Gio.SocketConnectable and makes a channel over the
 * connection (Achat.Channel.connect_async(), started now).
 *
 * @param {Gio.SocketConnectable} connectable a Gio.NetworkAddress, a
 *   Gio.UnixSocketAddress, any connectable
 * @param {object} [options]
 * @param {Gio.SocketClient} [options.client] connects (its timeout, TLS and
 *   proxy settings apply); a default one if none
 * @param {GObject.Class} [options.channelType] Achat.Channel or a subclass
 * @param {Gio.Cancellable} [options.cancellable] cancels the connect
 * @returns {Promise<Achat.Channel>} the channel; rejected with the
 *   GLib.Error of the connect
 */
export function connect(connectable, {client = null, channelType = Achat.Channel, cancellable = null} = {}) {
    return Achat.Channel.connect_async(connectable, client, channelType.$gtype ?? channelType,
        cancellable);
}

/**
 * Reads the next message (Achat.Channel.read_message_async(), started now).
 *
 * @param {Achat.Channel} channel the channel
 * @param {Gio.Cancellable} [cancellable] cancelling it rejects the promise
 *   with Gio.IOErrorEnum.CANCELLED; no message is lost
 * @returns {Promise<GLib.Bytes|null>} the message; null at the clean end of
 *   the stream; rejected with the GLib.Error the channel ended with
 *   (Gio.IOErrorEnum.PARTIAL_INPUT: the end came in the middle of a message)
 */
export function readMessage(channel, cancellable = null) {
    return channel.read_message_async(cancellable);
}

/**
 * Reads a line ended by "\r\n" or "\n", not included
 * (Achat.Channel.read_line_async(), started now): sets both as the
 * channel's terminators, which stay in force.
 *
 * @param {Achat.Channel} channel the channel
 * @param {Gio.Cancellable} [cancellable] as for readMessage()
 * @returns {Promise<GLib.Bytes|null>} as readMessage()
 */
export function readLine(channel, cancellable = null) {
    return channel.read_line_async(cancellable);
}

/**
 * Reads up to a terminator, not included (Achat.Channel.read_until_async(),
 * started now): sets it as the channel's terminator, which stays in force.
 *
 * @param {Achat.Channel} channel the channel
 * @param {string|Uint8Array} terminator at least one byte; a string is
 *   taken as UTF-8
 * @param {Gio.Cancellable} [cancellable] as for readMessage()
 * @returns {Promise<GLib.Bytes|null>} as readMessage()
 */
export function readUntil(channel, terminator, cancellable = null) {
    const bytes = typeof terminator === 'string'
        ? new TextEncoder().encode(terminator) : terminator;
    if (!(bytes instanceof Uint8Array) || bytes.length === 0)
        throw new TypeError('readUntil() needs a terminator of at least one byte');
    return channel.read_until_async(bytes, cancellable);
}

/**
 * Reads exactly the next count bytes (Achat.Channel.read_bytes_async(),
 * started now): sets a count terminator.
 *
 * @param {Achat.Channel} channel the channel
 * @param {number} count at least 1
 * @param {Gio.Cancellable} [cancellable] as for readMessage()
 * @returns {Promise<GLib.Bytes|null>} as readMessage(); rejected with
 *   Gio.IOErrorEnum.PARTIAL_INPUT when the stream ends before count bytes
 */
export function readBytes(channel, count, cancellable = null) {
    if (!Number.isInteger(count) || count < 1)
        throw new TypeError('readBytes() needs a count of at least 1');
    return channel.read_bytes_async(count, cancellable);
}

/**
 * Waits until what was queued before the call has been written
 * (Achat.Channel.drain_async(), started now).
 *
 * @param {Achat.Channel} channel the channel
 * @param {Gio.Cancellable} [cancellable] a cancellable
 * @returns {Promise<boolean>} true; rejected with a GLib.Error when the
 *   channel closed first
 */
export function drain(channel, cancellable = null) {
    return channel.drain_async(cancellable);
}

/**
 * The messages of a channel, until the clean end of the stream:
 * `for await (const message of messages(channel))`. Throws the GLib.Error
 * of any other end.
 *
 * @param {Achat.Channel} channel the channel
 * @param {Gio.Cancellable} [cancellable] a cancellable for every read
 * @yields {GLib.Bytes} each message
 */
export async function* messages(channel, cancellable = null) {
    for (;;) {
        // eslint-disable-next-line no-await-in-loop
        const message = await readMessage(channel, cancellable);
        if (message === null)
            return;
        yield message;
    }
}
