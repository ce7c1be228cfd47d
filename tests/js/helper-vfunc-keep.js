// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Not a test: run by test-subclass.js in a process of its own, because what
// it probes may read freed memory. A vfunc_terminator_found override keeps
// the GLib.Bytes it is given; after more traffic and a garbage collection,
// are the kept messages still right? Prints one line of JSON.

import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {concat, connectionPair, pattern, Peer, u8, waitFor} from './common.js';

const SIZES = [10, 100, 5000, 20000];

const KeepingChannel = GObject.registerClass(class KeepingChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.kept = [];
        this.set_terminator(u8('\n'));
    }

    vfunc_terminator_found(message) {
        this.kept.push(message);
    }
});

const {server, client} = connectionPair();
const channel = new KeepingChannel({stream: server});
const peer = new Peer(client);
const batch = seed => concat(SIZES.flatMap((size, i) => [pattern(size, seed + i), u8('\n')]));

peer.writeAsync(batch(0));
waitFor(() => channel.kept.length >= SIZES.length);
peer.writeAsync(batch(50));
waitFor(() => channel.kept.length >= 2 * SIZES.length);
System.gc();

const results = SIZES.map((size, i) => {
    const message = channel.kept[i];
    const got = message.get_size();
    let same = false;
    if (got === size) {
        const data = message.toArray();
        const expected = pattern(size, i);
        same = data.every((b, j) => b === expected[j]);
    }
    return {size, got, same};
});
print(JSON.stringify({ok: results.every(r => r.same), results}));
channel.close();
peer.close();
