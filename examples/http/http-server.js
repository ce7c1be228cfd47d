#!/usr/bin/gjs -m
// http-server.js: the HTTP request handler of asynchat's documentation
//
// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Usage: gjs -m http-server.js [PORT]
//
// Headers are read with a "\r\n\r\n" terminator, a POST body with a count
// terminator taken from Content-Length, then no terminator is set (extra
// bytes are ignored) and the request is handled:
//
//   GET /                 a short text page
//   GET /hello?name=X     "Hello, X!"
//   POST /echo            the request body, byte for byte
//   anything else         404 Not Found
//
// 400 for a malformed request, 411 for a POST without Content-Length, 413
// for a body larger than MAX_BODY. Listens on 127.0.0.1:PORT (0, the
// default, lets the kernel pick) until SIGTERM or SIGINT. The same server
// is written in C (http-server.c) and Python (http-server.py).

import Achat from 'gi://Achat?version=1.0';
import Gio from 'gi://Gio';
import GLib from 'gi://GLib';
import GObject from 'gi://GObject';
import System from 'system';

// GLib 2.84 moved unix_signal_add() to GLibUnix (and GJS 1.82 warns about
// the old name); older GLib has no GLibUnix.
const GLibUnix = await import('gi://GLibUnix').then(module => module.default, () => null);
const onSignal = GLibUnix
    ? (signum, handler) => GLibUnix.signal_add_full(GLib.PRIORITY_DEFAULT, signum, handler)
    : (signum, handler) => GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signum, handler);

const MAX_HEADERS = 64 * 1024;
const MAX_BODY = 16 * 1024 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const VERSION = /^HTTP\/[0-9]\.[0-9]$/;
const DIGITS = /^[0-9]+$/;
const INDEX_PAGE = `achat HTTP example

GET /hello?name=you    a greeting
POST /echo             the request body, sent back
`;
const SIGINT = 2, SIGTERM = 15;

const encoder = new TextEncoder();
const latin1 = new TextDecoder('latin1');

const HttpRequestHandler = GObject.registerClass(
class HttpRequestHandler extends Achat.Channel {
    _init(params) {
        super._init(params);
        this.set_terminator(encoder.encode('\r\n\r\n'));
        // A peer sending endless headers is cut off (the channel closes).
        this.set_max_input_size(MAX_HEADERS);
        this._readingHeaders = true;
        this._handling = false;
        this._headers = new Map();
    }

    // snippet-begin handler
    vfunc_terminator_found(message) {
        const data = message.toArray();
        if (this._readingHeaders) {
            this._readingHeaders = false;
            if (!this._parseHeaders(latin1.decode(data)))
                this._respond('400 Bad Request');
            else if (this._method === 'POST')
                this._expectBody();
            else
                this._handleRequest(new Uint8Array());
        } else if (!this._handling) {
            this._handleRequest(data);
        }
    }
    // snippet-end handler

    // Parses the request line and the header fields; false if malformed.
    _parseHeaders(text) {
        if (!text || text.includes('\0'))
            return false;
        const [requestLine, ...fields] = text.split('\r\n');
        const request = requestLine.split(' ');
        if (request.length !== 3 || !TOKEN.test(request[0]) ||
            !request[1] || !VERSION.test(request[2]))
            return false;
        [this._method, this._target, this._version] = request;
        for (const field of fields) {
            const colon = field.indexOf(':');
            const name = field.slice(0, colon);
            if (colon < 0 || !TOKEN.test(name))
                return false;
            this._headers.set(name.toLowerCase(), field.slice(colon + 1).trim());
        }
        return true;
    }

    // After the headers of a POST: read Content-Length bytes.
    _expectBody() {
        const clen = this._headers.get('content-length');
        if (clen === undefined) {
            this._respond('411 Length Required');
        } else if (!DIGITS.test(clen)) {
            this._respond('400 Bad Request');
        } else if (Number(clen) > MAX_BODY) {
            this._respond('413 Content Too Large');
        } else if (Number(clen) === 0) {
            this._handleRequest(new Uint8Array()); // a count of 0 means no terminator
        } else {
            if (this._headers.get('expect')?.toLowerCase() === '100-continue' &&
                this._version === 'HTTP/1.1')
                this.push(encoder.encode('HTTP/1.1 100 Continue\r\n\r\n'));
            // The body may be longer than the header block was allowed to be.
            this.set_max_input_size(Number(clen));
            this.set_terminator_count(Number(clen));
        }
    }

    _handleRequest(body) {
        const [path, query = ''] = this._target.split(/\?(.*)/s); // at the first '?'
        if (this._method === 'GET' && path === '/') {
            this._respond('200 OK', INDEX_PAGE);
        } else if (this._method === 'GET' && path === '/hello') {
            let params;
            try { // parsed as the C and Python servers do
                params = GLib.Uri.parse_params(query, -1, '&', GLib.UriParamsFlags.WWW_FORM);
            } catch (e) {
                this._respond('400 Bad Request');
                return;
            }
            this._respond('200 OK', `Hello, ${params['name'] ?? 'world'}!`);
        } else if (this._method === 'POST' && path === '/echo') {
            this._respond('200 OK', body, 'application/octet-stream');
        } else {
            this._respond('404 Not Found');
        }
    }

    _respond(status, body = status, contentType = 'text/plain; charset=utf-8') {
        if (typeof body === 'string')
            body = encoder.encode(body);
        this._handling = true;
        this.set_terminator_none(); // clients sometimes over-send
        this.push(encoder.encode(`HTTP/1.1 ${status}\r\n` +
            `Content-Type: ${contentType}\r\n` +
            `Content-Length: ${body.length}\r\n` +
            'Connection: close\r\n' +
            '\r\n'));
        this.push(body);
        this.close_when_done();
    }
});

const [arg = '0'] = System.programArgs;
const port = Number(arg);
if (!/^[0-9]+$/.test(arg) || port > 65535) {
    printerr(`usage: http-server.js [PORT]: bad port “${arg}”`);
    System.exit(2);
}

const server = Achat.Server.new(HttpRequestHandler.$gtype);
const address = Gio.InetSocketAddress.new_from_string('127.0.0.1', port);
const [, bound] = server.add_address(address, Gio.SocketType.STREAM,
    Gio.SocketProtocol.TCP, null);

const loop = new GLib.MainLoop(null, false);
for (const signum of [SIGTERM, SIGINT]) {
    onSignal(signum, () => {
        loop.quit();
        return GLib.SOURCE_CONTINUE;
    });
}

print(`listening on 127.0.0.1:${bound.get_port()}`);
server.start();
loop.run();
server.stop();
server.close();
