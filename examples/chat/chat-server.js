// chat-server.js: a multi-user line chat server, asynchat's classic example
//
// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Usage: gjs -m chat-server.js [PORT]
//
// Listens on 127.0.0.1:PORT (0 or no argument: a port the kernel picks),
// prints "listening on 127.0.0.1:PORT" and serves until SIGTERM or SIGINT,
// then exits with status 0. Run it from a build tree with
//
//     GI_TYPELIB_PATH=_build/achat LD_LIBRARY_PATH=_build/achat \
//         gjs -m examples/chat/chat-server.js 7000
//
// chat-server.c and chat-server.py speak the same protocol.
//
// The protocol
// ------------
// Lines end with "\r\n"; a bare "\n" is accepted too (a trailing "\r" is
// stripped). The server always sends "\r\n". Empty lines are ignored. Text
// is relayed as bytes, unchanged.
//
//   on connect           server: * welcome, send NICK <name>
//   NICK <name>          everybody in the room, newcomer included:
//                                * <name> joined
//                        <name> is 1 to 16 of A-Z a-z 0-9 _ - and unique;
//                        otherwise one of these, and nothing else happens:
//                                ! invalid nick, use 1-16 of A-Z a-z 0-9 _ -
//                                ! nick <name> is taken
//                                ! you are already <nick>
//   /who                 server: * users: <nick> <nick> ...   (sorted)
//   /quit                server: * bye, then closes the connection;
//                        others: * <nick> left
//   /anything-else       server: ! unknown command /anything-else
//   any other line       others: <nick> line
//
// Before NICK only NICK and /quit are accepted; anything else gets
// "! send NICK <name> first". A client that disconnects without /quit is
// announced as "* <nick> left" too. Lines that arrive after /quit are
// ignored.
//
// How it is built
// ---------------
// ChatChannel subclasses Achat.Channel with GObject.registerClass: its
// constructor sets the terminator (GJS runs it when the server's C code
// constructs the channel), and vfunc_terminator_found() and vfunc_closed()
// override the signals' class closures. The server's channel-type is
// ChatChannel; its channel-accepted signal adds each channel to the room
// (the registry of connected channels), and vfunc_closed() removes it.
// Broadcasts skip channels that are closing (is_closing()): a channel
// refuses pushes once close_when_done() was called.
//
// Lines are Uint8Arrays: the text of a message is relayed as it came, and
// only commands and nicks (ASCII) are decoded.

import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import Gio from 'gi://Gio';
import Achat from 'gi://Achat?version=1.0';
import System from 'system';

// GLib 2.84 moved unix_signal_add() to GLibUnix (and GJS 1.82 warns about
// the old name); older GLib has no GLibUnix.
const GLibUnix = await import('gi://GLibUnix').then(module => module.default, () => null);
const onSignal = GLibUnix
    ? (signum, handler) => GLibUnix.signal_add_full(GLib.PRIORITY_DEFAULT, signum, handler)
    : (signum, handler) => GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, handler);

const SIGINT = 2;
const SIGTERM = 15;
const NICK_RE = /^[A-Za-z0-9_-]{1,16}$/;
const CR = 0x0d;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Joins strings and Uint8Arrays into one Uint8Array.
function concatBytes(...parts) {
    const arrays = parts.map(p => typeof p === 'string' ? encoder.encode(p) : p);
    const result = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
    let offset = 0;
    for (const a of arrays) {
        result.set(a, offset);
        offset += a.length;
    }
    return result;
}

// The registry of connected channels.
class Room {
    constructor() {
        this.channels = [];          // ChatChannel, in order of arrival
        this.shuttingDown = false;   // no announcements while closing all
    }

    members() {
        return this.channels.filter(c => c.inRoom());
    }

    // Sends line (a string or Uint8Array, without its end) to everybody in
    // the room but `except`.
    broadcast(line, except = null) {
        const data = new GLib.Bytes(concatBytes(line, '\r\n'));  // pushed to all
        for (const member of this.members()) {
            if (member !== except)
                member.push_bytes(data);
        }
    }

    find(nick) {
        return this.members().find(c => c.nick === nick) ?? null;
    }

    closeAll() {
        this.shuttingDown = true;
        for (const channel of [...this.channels])
            channel.close();   // vfunc_closed() runs before this returns
    }
}

const ChatChannel = GObject.registerClass(
class ChatChannel extends Achat.Channel {
    constructor(params) {
        super(params);
        this.room = null;   // set when accepted; null once closed
        this.nick = null;   // null before NICK and after /quit
        this.set_terminator(encoder.encode('\n'));
    }

    inRoom() {
        return this.nick !== null && !this.is_closing();
    }

    send(line) {
        if (!this.is_closing())
            this.push(concatBytes(line, '\r\n'));
    }

    vfunc_terminator_found(message) {
        // After /quit, or before the server has accepted it.
        if (this.is_closing() || this.room === null)
            return;
        let line = message.toArray();
        if (line.length > 0 && line[line.length - 1] === CR)
            line = line.subarray(0, line.length - 1);
        if (line.length > 0)
            this._handleLine(line);
    }

    _handleLine(bytes) {
        const line = decoder.decode(bytes);   // for commands only
        if (line === 'NICK' || line.startsWith('NICK '))
            this._handleNick(line.slice(5));
        else if (line === '/quit')
            this._handleQuit();
        else if (this.nick === null)
            this.send('! send NICK <name> first');
        else if (line === '/who')
            this.send(['* users:', ...this.room.members().map(c => c.nick).sort()].join(' '));
        else if (line.startsWith('/'))
            this.send(`! unknown command ${line.split(' ', 1)[0]}`);
        else
            this.room.broadcast(concatBytes(`<${this.nick}> `, bytes), this);
    }

    _handleNick(nick) {
        if (this.nick !== null) {
            this.send(`! you are already ${this.nick}`);
        } else if (!NICK_RE.test(nick)) {
            this.send('! invalid nick, use 1-16 of A-Z a-z 0-9 _ -');
        } else if (this.room.find(nick) !== null) {
            this.send(`! nick ${nick} is taken`);
        } else {
            this.nick = nick;
            this.room.broadcast(`* ${nick} joined`);
        }
    }

    _handleQuit() {
        const nick = this.nick;
        this.nick = null;
        this.send('* bye');
        // Closes once "* bye" is written; pushes are refused from now on.
        this.close_when_done();
        if (nick !== null)
            this.room.broadcast(`* ${nick} left`, this);
    }

    vfunc_closed(error) {
        const {room, nick} = this;
        this.room = null;
        this.nick = null;
        if (room === null)
            return;
        if (error !== null)
            printerr(`chat-server: connection of ${nick ?? 'a newcomer'} lost: ${error.message}`);
        room.channels.splice(room.channels.indexOf(this), 1);
        if (nick !== null && !room.shuttingDown)
            room.broadcast(`* ${nick} left`);
    }
});

function main(argv) {
    const port = argv.length > 0 ? Number(argv[0]) : 0;
    if (argv.length > 1 || (argv.length > 0 && !/^[0-9]+$/.test(argv[0])) || port > 65535) {
        printerr('usage: gjs -m chat-server.js [PORT]');
        return 2;
    }

    const room = new Room();
    const server = new Achat.Server({channel_type: ChatChannel});
    server.connect('channel-accepted', (_server, channel) => {
        channel.room = room;
        room.channels.push(channel);
        channel.send('* welcome, send NICK <name>');
    });

    let bound;
    try {
        const address = Gio.InetSocketAddress.new_from_string('127.0.0.1', port);
        [, bound] = server.add_address(address, Gio.SocketType.STREAM,
            Gio.SocketProtocol.TCP, null);
    } catch (error) {
        printerr(`chat-server: cannot listen on 127.0.0.1:${port}: ${error.message}`);
        return 1;
    }

    const loop = new GLib.MainLoop(null, false);
    for (const signum of [SIGTERM, SIGINT]) {
        onSignal(signum, () => {
            loop.quit();
            return GLib.SOURCE_CONTINUE;
        });
    }

    server.start();
    print(`listening on 127.0.0.1:${bound.get_port()}`);   // print() flushes

    loop.run();

    // Stop accepting, then close every connection without announcements.
    server.stop();
    server.close();
    room.closeAll();
    return 0;
}

System.exit(main(System.programArgs));
