// line-server.js: the tutorial's line server, in JavaScript (GJS)
//
// Usage: gjs -m line-server.js [PORT]   (0 or nothing: a port the kernel picks)
// Same protocol as line-server.c; docs/tutorial.md shows this file.
//
// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later

import Gio from 'gi://Gio';
import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

// snippet-begin handler
const encoder = new TextEncoder();

const LineChannel = GObject.registerClass(class LineChannel extends Achat.Channel {
    _init(params) {
        super._init(params);
        this.set_terminator(encoder.encode('\r\n'));
    }

    vfunc_terminator_found(line) {
        const text = new TextDecoder().decode(line.toArray());
        if (text === 'QUIT') {
            this.push(encoder.encode('bye\r\n'));
            this.close_when_done();
        } else {
            this.push(encoder.encode(`you said: ${text}\r\n`));
        }
    }
});
// snippet-end handler

const port = Number(System.programArgs[0] ?? 0);
// snippet-begin server
const server = Achat.Server.new(LineChannel.$gtype);
const address = Gio.InetSocketAddress.new_from_string('127.0.0.1', port);
const [, bound] = server.add_address(address, Gio.SocketType.STREAM,
    Gio.SocketProtocol.TCP, null);

// GLib 2.84 moved unix_signal_add() to GLibUnix (and GJS 1.82 warns about
// the old name); older GLib has no GLibUnix.
const GLibUnix = await import('gi://GLibUnix').then(module => module.default, () => null);
const onSignal = GLibUnix
    ? (signum, handler) => GLibUnix.signal_add_full(GLib.PRIORITY_DEFAULT, signum, handler)
    : (signum, handler) => GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, handler);
const loop = new GLib.MainLoop(null, false);
for (const signum of [15, 2]) {   // SIGTERM, SIGINT
    onSignal(signum, () => {
        loop.quit();
        return GLib.SOURCE_CONTINUE;
    });
}
print(`listening on 127.0.0.1:${bound.get_port()}`);

server.start();
loop.run();
// snippet-end server
