// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Not a test: run by test-volume.js in processes of their own, because what
// it probes leaves the JS engine unable to call back into JS.
//
//   helper-volume.js server LINES BURST   an Achat.Server whose channelType
//       counts lines in vfunc_terminator_found; the channel is referenced
//       from C only. It runs the client below, and prints one line of JSON
//       once the channel closed (or the client is gone and the channel stays
//       silent). With BURST > 0, every BURST lines it forces a garbage
//       collection (System.gc()) and then answers "A\n".
//   helper-volume.js client ADDRESS LINES BURST   sends LINES lines of 64 bytes
//       ("\n" included) with blocking calls (no callbacks: nothing of it
//       depends on the JS engine calling back), waiting for the "A\n" after
//       each BURST lines, then shuts its output and waits for the end.

import GLib from 'gi://GLib';
import Gio from 'gi://Gio';
import GObject from 'gi://GObject';
import System from 'system';

import Achat from 'gi://Achat?version=1.0';

import {listenOnLoopback} from './common.js';

const LINE = 64;

function server(lines, burst) {
    const totals = {lines: 0, bytes: 0, closed: 0, error: null};
    const ack = new TextEncoder().encode('A\n');

    const Counter = GObject.registerClass(class VolumeCounter extends Achat.Channel {
        constructor(params) {
            super(params);
            this.set_terminator(new Uint8Array([10]));
        }

        vfunc_terminator_found(message) {
            totals.lines++;
            totals.bytes += message.get_size();
            if (burst > 0 && totals.lines % burst === 0) {
                System.gc();
                this.push(ack);
            }
        }

        vfunc_closed(error) {
            totals.closed++;
            totals.error = error ? error.message : null;
        }
    });

    const listener = new Achat.Server({channelType: Counter.$gtype});
    const address = listenOnLoopback(listener);
    listener.start();

    const gjs = GLib.file_read_link('/proc/self/exe');
    const client = Gio.Subprocess.new([gjs, '-m', System.programPath, 'client',
        address.to_string(), String(lines), String(burst)], Gio.SubprocessFlags.NONE);

    // Iterated from here, not by callbacks: a JS callback the engine
    // refuses would stop the loop.
    const context = GLib.MainContext.default();
    const started = GLib.get_monotonic_time();
    const deadline = started + 45 * 1000000;
    let clientGone = 0;
    while (totals.closed === 0) {
        const now = GLib.get_monotonic_time();
        if (now > deadline)
            break;
        if (client.get_identifier() === null) {
            clientGone ||= now;
            if (now - clientGone > 5 * 1000000)
                break;
        }
        if (!context.iteration(false))
            GLib.usleep(1000);
    }
    listener.stop();
    print(JSON.stringify({...totals, seconds: (GLib.get_monotonic_time() - started) / 1e6}));
}

function client(address, lines, burst) {
    const connection = new Gio.SocketClient().connect_to_host(address, 0, null);
    connection.get_socket().set_timeout(30);
    const output = connection.get_output_stream();
    const input = connection.get_input_stream();

    const line = new Uint8Array(LINE).fill(0x78);
    line[LINE - 1] = 10;
    const PER_WRITE = 1024;
    const block = new Uint8Array(LINE * PER_WRITE);
    for (let i = 0; i < PER_WRITE; i++)
        block.set(line, i * LINE);

    let sent = 0;
    while (sent < lines) {
        const upTo = burst > 0 ? Math.min(lines, (Math.floor(sent / burst) + 1) * burst) : lines;
        while (sent < upTo) {
            const n = Math.min(PER_WRITE, upTo - sent);
            output.write_all(n === PER_WRITE ? block : block.subarray(0, n * LINE), null);
            sent += n;
        }
        if (burst > 0 && sent % burst === 0) {
            const got = input.read_bytes(2, null);
            if (got.get_size() !== 2)
                throw new Error(`no acknowledgement after ${sent} lines`);
        }
    }
    connection.get_socket().shutdown(false, true);
    // Until the server closes: its end of the stream.
    while (input.read_bytes(4096, null).get_size() > 0)
        ;
    connection.close(null);
}

const [role, ...args] = ARGV;
if (role === 'server')
    server(Number(args[0]), Number(args[1]));
else if (role === 'client')
    client(args[0], Number(args[1]), Number(args[2]));
else
    throw new Error(`usage: helper-volume.js server LINES BURST | client ADDRESS LINES BURST`);
