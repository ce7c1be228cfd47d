// SPDX-FileCopyrightText: 2026 The achat authors
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A small TAP producer for the GJS tests.
//
//   import {test, run} from './tap.js';
//   test('name', t => { ... });          // may return a Promise
//   test('name', t => { ... }, {todo: 'why it fails'});
//   run();                               // prints TAP and exits
//
// Every warning or critical logged by Achat, GLib, GObject, GIO or GJS
// while a test runs (GJS logs exceptions thrown in signal handlers and
// vfuncs as "JS ERROR" criticals) fails that test, unless the test said
// it expects it with t.expectLog().

import GLib from 'gi://GLib';
import System from 'system';

const tests = [];

/**
 * Registers a test.
 *
 * @param {string} name what the test checks
 * @param {function(TestContext): (void|Promise<void>)} fn the test
 * @param {object} [options] `todo`: a reason; the test is known to fail
 *   (TAP "# TODO": a failure does not fail the run). A pass is reported
 *   as a plain pass: a failure that comes only sometimes (a race in a GJS
 *   version) must not turn a pass into a failure of the run, as TAP's
 *   "ok # TODO" (an unexpected pass, for meson) would. `timeout`: ms for
 *   an asynchronous test (default 20000).
 */
export function test(name, fn, options = {}) {
    tests.push({name, fn, ...options});
}

class SkipTest extends Error {}

const LOG_DOMAINS = ['Achat', 'GLib', 'GLib-GObject', 'GLib-GIO', 'Gjs'];
const LOG_LEVELS = GLib.LogLevelFlags.LEVEL_CRITICAL | GLib.LogLevelFlags.LEVEL_WARNING;
const logs = [];

function levelName(level) {
    if (level & GLib.LogLevelFlags.LEVEL_CRITICAL)
        return 'CRITICAL';
    if (level & GLib.LogLevelFlags.LEVEL_WARNING)
        return 'WARNING';
    return `level ${level}`;
}

/** Prints text as TAP diagnostics: every line starts with "# ". */
export function diag(text) {
    for (const line of String(text).split('\n'))
        print(`# ${line}`);
}

function installLogHandlers() {
    for (const domain of LOG_DOMAINS) {
        GLib.log_set_handler(domain, LOG_LEVELS, (logDomain, level, message) => {
            const entry = {domain: logDomain, level: levelName(level), message};
            logs.push(entry);
            diag(`log: ${entry.domain}-${entry.level}: ${message}`);
        });
    }
}

/** What a test function receives. */
class TestContext {
    constructor() {
        this._cleanups = [];
        this._expected = [];
    }

    /** Runs fn after the test, even when it fails (last registered first). */
    defer(fn) {
        this._cleanups.push(fn);
    }

    /**
     * Declares that the test logs a warning or critical of this domain whose
     * message matches pattern; it must be logged at least `min` times.
     */
    expectLog(domain, pattern, {min = 1} = {}) {
        this._expected.push({domain, pattern, min, seen: 0});
    }

    /** The warnings and criticals logged so far by this test. */
    get logs() {
        return logs.slice();
    }

    /** Ends the test as skipped (TAP "# SKIP"). */
    skip(reason) {
        throw new SkipTest(reason);
    }

    _checkLogs() {
        const unexpected = [];
        for (const entry of logs) {
            const expectation = this._expected.find(e =>
                e.domain === entry.domain && e.pattern.test(entry.message));
            if (expectation)
                expectation.seen++;
            else
                unexpected.push(entry);
        }
        if (unexpected.length > 0) {
            throw new Error(`unexpected log message(s):\n${
                unexpected.map(e => `  ${e.domain}-${e.level}: ${e.message}`).join('\n')}`);
        }
        for (const e of this._expected) {
            if (e.seen < e.min)
                throw new Error(`expected a ${e.domain} log matching ${e.pattern} (${e.min}x), saw ${e.seen}`);
        }
    }
}

/** Iterates the default main context until promise settles. */
function settle(promise, timeoutMs) {
    let state = 'pending', value;
    promise.then(v => {
        state = 'resolved';
        value = v;
    }, e => {
        state = 'rejected';
        value = e;
    });
    const context = GLib.MainContext.default();
    const deadline = GLib.get_monotonic_time() + timeoutMs * 1000;
    const tick = GLib.timeout_add(GLib.PRIORITY_DEFAULT, 10, () => GLib.SOURCE_CONTINUE);
    try {
        while (state === 'pending') {
            if (GLib.get_monotonic_time() > deadline)
                throw new Error(`asynchronous test did not finish within ${timeoutMs} ms`);
            context.iteration(true);
        }
    } finally {
        GLib.source_remove(tick);
    }
    if (state === 'rejected')
        throw value;
    return value;
}

function describe(error) {
    if (error instanceof GLib.Error)
        return `GLib.Error ${GLib.quark_to_string(error.domain)} ${error.code}: ${error.message}`;
    if (error instanceof Error)
        return `${error.name}: ${error.message}`;
    return String(error);
}

/** Runs the registered tests, prints TAP and exits: 1 if any test failed. */
export function run() {
    installLogHandlers();
    print(`1..${tests.length}`);

    let failures = 0;
    tests.forEach((t, index) => {
        const number = index + 1;
        const context = new TestContext();
        let error = null;
        let skipped = null;

        logs.length = 0;
        try {
            const result = t.fn(context);
            if (result && typeof result.then === 'function')
                settle(result, t.timeout ?? 20000);
            context._checkLogs();
        } catch (e) {
            if (e instanceof SkipTest)
                skipped = e.message;
            else
                error = e;
        }
        for (const cleanup of context._cleanups.reverse()) {
            try {
                cleanup();
            } catch (e) {
                error ??= e;
            }
        }
        logs.length = 0;

        if (skipped !== null) {
            print(`ok ${number} - ${t.name} # SKIP ${skipped}`);
            return;
        }
        const directive = t.todo && error ? ` # TODO ${t.todo}` : '';
        print(`${error ? 'not ok' : 'ok'} ${number} - ${t.name}${directive}`);
        if (error) {
            diag(describe(error));
            if (error.stack)
                diag(error.stack.trimEnd());
            if (!t.todo)
                failures++;
        }
    });

    System.exit(failures > 0 ? 1 : 0);
}
