// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Promises for Achat.Channel in GJS:
//
//   import {drain, messages, readMessage} from './achat.js';
//
//   const reply = await readMessage(channel);         // GLib.Bytes; null at the end
//   for await (const message of messages(channel))    // until the end
//       ...
//   await drain(channel);                             // what was pushed is written
//
// Importing the module also makes read_message_async() and drain_async()
// return a promise when called without a callback (Gio._promisify()).

import Gio from 'gi://Gio';

import Achat from 'gi://Achat?version=1.0';

Gio._promisify(Achat.Channel.prototype, 'read_message_async', 'read_message_finish');
Gio._promisify(Achat.Channel.prototype, 'drain_async', 'drain_finish');

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
