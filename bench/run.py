#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Runs every benchmark scenario against every contender and prints a
Markdown table: medians, min-max spread, server CPU per message, peak
server RSS, and ratios to the raw epoll ceiling and to libevent.

    bench/run.py [--build-dir _build] [--runs 5] [--only lines,frames-100]
                 [--contenders achat,libevent,raw] [--quick]
                 [--baseline-build-dir DIR] [--instructions]

With --instructions, nothing is timed: each server runs under callgrind for
lines-64, frames-100 and ping-100 at two small sizes, and the table gives
instructions per message (the difference of the two counts over the
difference in messages, so start-up and shutdown cancel). On these noisy
2-core machines that is the figure to compare two commits by.

With --baseline-build-dir, the achat servers of another build (an earlier
commit, say, from `git worktree add`) run too, as achat-base and
achat-vfunc-base: a change is compared with what it changes in the same
run.

Contenders are interleaved run by run (A B C ..., A B C ...) so that drift
on the machine hits them all alike. The server is pinned to CPU 0 and the
load generator to CPU 1 (when the machine has two), so a wakeup costs the
same for every contender.
"""

import argparse
import os
import platform
import re
import resource
import signal
import statistics
import subprocess
import sys
import time

PYTHON = '/usr/bin/python3'   # Debian's, which still has asynchat and python3-gi
GJS = '/usr/bin/gjs'

# name, loadgen arguments, messages per run (for per-message figures)
SCENARIOS = [
    ('lines-64', ['lines', '1000000', '64'], 1000000),
    ('frames-100', ['frames', '200000', '100'], 200000),
    ('frames-64k', ['frames', '4000', '65536'], 4000),
    ('frames-1m', ['frames', '200', '1048576'], 200),
    ('ping-1', ['ping', '1', '20000'], 20000),
    ('ping-100', ['ping', '100', '500'], 50000),
    ('ping-1000', ['ping', '1000', '50'], 50000),
    ('ping-10000', ['ping', '10000', '5'], 50000),
    ('idle-busy-1000', ['ping', '1000', '50', '--idle', '1'], 50000),
    ('download-1g', ['download', str(1 << 30)], 1),
]

QUICK = {
    'lines-64': ['lines', '100000', '64'],
    'frames-100': ['frames', '20000', '100'],
    'frames-64k': ['frames', '400', '65536'],
    'frames-1m': ['frames', '20', '1048576'],
    'ping-1': ['ping', '1', '2000'],
    'ping-100': ['ping', '100', '50'],
    'ping-1000': ['ping', '1000', '5'],
    'ping-10000': ['ping', '10000', '1'],
    'idle-busy-1000': ['ping', '1000', '5', '--idle', '0.2'],
    'download-1g': ['download', str(64 << 20)],
}


def contenders(build_dir, baseline_dir=None):
    bench = os.path.join(build_dir, 'bench')
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ)
    env['LD_LIBRARY_PATH'] = os.path.join(build_dir, 'achat')
    # The Python and GJS servers load this build's typelib (and Python the
    # override from the sources), as the tests do.
    gi_env = dict(env)
    gi_env['GI_TYPELIB_PATH'] = os.path.join(build_dir, 'achat')
    gi_env['PYTHONPATH'] = os.path.join(os.path.dirname(here), 'bindings', 'python')
    found = []
    if baseline_dir:
        base_env = dict(os.environ)
        base_env['LD_LIBRARY_PATH'] = os.path.join(baseline_dir, 'achat')
        base_server = os.path.join(baseline_dir, 'bench', 'server-achat')
        if not os.path.exists(base_server):
            sys.exit('no %s: build the baseline first' % base_server)
        found += [('achat-base', [base_server], base_env),
                  ('achat-vfunc-base', [base_server, '--vfunc'], base_env)]
    for name, argv in [
        ('raw', [os.path.join(bench, 'server-raw')]),
        ('achat', [os.path.join(bench, 'server-achat')]),
        ('achat-vfunc', [os.path.join(bench, 'server-achat'), '--vfunc']),
        ('achat-bytes', [os.path.join(bench, 'server-achat'), '--bytes']),
        ('achat-whole', [os.path.join(bench, 'server-achat'), '--whole']),
        ('libevent', [os.path.join(bench, 'server-libevent')]),
        ('gio', [os.path.join(bench, 'server-gio')]),
        ('asynchat', [PYTHON, os.path.join(here, 'server-asynchat.py')]),
        ('asyncio', [PYTHON, os.path.join(here, 'server-asyncio.py')]),
        ('achat-py', [PYTHON, os.path.join(here, 'server-achat.py')]),
        ('achat-gjs', [GJS, '-m', os.path.join(here, 'server-achat.js')]),
        ('achat-py-bytes', [PYTHON, os.path.join(here, 'server-achat.py'), '--bytes']),
        ('achat-py-whole', [PYTHON, os.path.join(here, 'server-achat.py'), '--whole']),
        ('achat-gjs-bytes', [GJS, '-m', os.path.join(here, 'server-achat.js'), '--bytes']),
        ('achat-gjs-whole', [GJS, '-m', os.path.join(here, 'server-achat.js'), '--whole']),
    ]:
        program = [a for a in argv if not a.startswith('-')][-1]
        if os.path.exists(program) and os.path.exists(argv[0]):
            uses_gi = name.startswith(('achat-py', 'achat-gjs'))
            if uses_gi and not os.path.exists(os.path.join(build_dir, 'achat', 'Achat-1.0.typelib')):
                continue
            found.append((name, argv, gi_env if uses_gi else env))
    return found


def pinned(argv, cpu):
    if os.cpu_count() and os.cpu_count() >= 2 and os.path.exists('/usr/bin/taskset'):
        return ['/usr/bin/taskset', '-c', str(cpu)] + argv
    return argv


def proc_cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    ticks = os.sysconf('SC_CLK_TCK')
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_peak_rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def raise_nofile():
    """Lets the server hold ping-10000's connections: soft limit = hard."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start_server(argv, env, start_timeout=20):
    server = subprocess.Popen(pinned(argv, 0) + ['0'], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, text=True,
                              preexec_fn=raise_nofile)
    deadline = time.monotonic() + start_timeout
    line = server.stdout.readline()
    match = re.search(r'listening on 127\.0\.0\.1:(\d+)', line or '')
    if not match or time.monotonic() > deadline:
        server.kill()
        raise RuntimeError('%s did not start: %r %s' % (argv, line, server.stderr.read()))
    return server, int(match.group(1))


def stop_server(server, timeout=20):
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def run_once(loadgen, argv, env, scenario_args, timeout):
    server, port = start_server(argv, env)
    try:
        pid = server.pid
        # taskset execs the server in place, so the pid is the server's.
        cpu_before = proc_cpu_seconds(pid)
        result = subprocess.run(pinned([loadgen, str(port)] + scenario_args, 1),
                                capture_output=True, text=True, timeout=timeout)
        cpu_after = proc_cpu_seconds(pid)
        rss = proc_peak_rss_kib(pid)
    finally:
        stop_server(server)
    if result.returncode != 0:
        raise RuntimeError('loadgen failed: %s' % result.stderr.strip())
    values = dict(re.findall(r'(\w+)=([\d.e+-]+)', result.stdout))
    return float(values['seconds']), cpu_after - cpu_before, rss


# --instructions: each scenario at two sizes, small enough for callgrind;
# the difference between them divided by the difference in messages is the
# cost of one message, with start-up, connections and shutdown cancelled.
INSTRUCTION_SCENARIOS = {
    'lines-64': (['lines', '20000', '64'], ['lines', '60000', '64'], 40000),
    'frames-100': (['frames', '10000', '100'], ['frames', '30000', '100'], 20000),
    'ping-100': (['ping', '100', '10'], ['ping', '100', '30'], 2000),
}


def callgrind_total(out_file):
    """The instructions a callgrind run counted (its "totals:" line)."""
    with open(out_file) as f:
        for line in f:
            if line.startswith(('totals:', 'summary:')):
                return int(line.split()[1])
    raise RuntimeError('no totals in %s' % out_file)


def count_once(loadgen, argv, env, scenario_args, timeout, out_file):
    """Instructions the server executes, start to exit, serving @scenario_args."""
    env = dict(env)
    env['G_SLICE'] = ''   # the allocator of native runs (GLib 2.74 honours G_SLICE)
    valgrind = ['/usr/bin/valgrind', '--tool=callgrind', '--callgrind-out-file=' + out_file]
    # An interpreter starts some fifty times slower under callgrind, more
    # on a loaded machine.
    server, port = start_server(valgrind + argv, env, start_timeout=180)
    try:
        result = subprocess.run([loadgen, str(port)] + scenario_args +
                                ['--timeout', '%d' % timeout],
                                capture_output=True, text=True, timeout=timeout + 60)
    finally:
        stop_server(server, timeout=300)   # exiting under callgrind takes a while
    if result.returncode != 0:
        raise RuntimeError('loadgen failed: %s' % result.stderr.strip())
    if server.returncode != 0:
        raise RuntimeError('server exited with %s' % server.returncode)
    return callgrind_total(out_file)


def instructions(options, loadgen, field):
    """Prints instructions per message for each scenario and contender."""
    import tempfile

    if not os.path.exists('/usr/bin/valgrind'):
        sys.exit('--instructions needs valgrind (apt-get install valgrind)')
    todo = [name for name in INSTRUCTION_SCENARIOS
            if not options.only or name in options.only.split(',')]
    print('instructions per message: callgrind, (I(large) - I(small)) / (messages '
          'between them); the same from run to run whatever the load')
    print()
    print('| scenario | contender | instructions/msg | × raw | × libevent | × asyncio |')
    print('|---|---|---:|---:|---:|---:|')
    with tempfile.TemporaryDirectory(prefix='achat-bench-') as tmp:
        for name in todo:
            small, large, between = INSTRUCTION_SCENARIOS[name]
            per, failed = {}, {}
            for contender, argv, env in field:
                try:
                    counts = [count_once(loadgen, argv, env, args, options.timeout * 3,
                                         os.path.join(tmp, '%s-%s-%d.out' % (name, contender, i)))
                              for i, args in enumerate((small, large))]
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    print('# %s %s: %s' % (name, contender, error), file=sys.stderr)
                    failed[contender] = str(error)[-60:]
                    continue
                per[contender] = (counts[1] - counts[0]) / between
            for contender, _, _ in field:
                if contender in failed:
                    print('| %s | %s | failed: %s | | | |' % (name, contender, failed[contender]))
                    continue
                value = per[contender]
                print('| %s | %s | %.1f | %s | %s | %s |' % (
                    name, contender, value, fmt_ratio(value, per.get('raw')),
                    fmt_ratio(value, per.get('libevent')), fmt_ratio(value, per.get('asyncio'))))
            sys.stdout.flush()


def fmt_ratio(value, reference):
    if not reference:
        return '-'
    return '%.2f' % (value / reference)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--build-dir', default='_build')
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--only', default='')
    parser.add_argument('--contenders', default='')
    parser.add_argument('--quick', action='store_true', help='smaller runs, for a smoke test')
    parser.add_argument('--timeout', type=float, default=300)
    parser.add_argument('--baseline-build-dir', default=None,
                        help='also run the achat servers of this build (achat-base)')
    parser.add_argument('--instructions', action='store_true',
                        help='count instructions per message under callgrind instead of timing')
    options = parser.parse_args()

    loadgen = os.path.join(options.build_dir, 'bench', 'loadgen')
    todo = [s for s in SCENARIOS if not options.only or s[0] in options.only.split(',')]
    field = contenders(options.build_dir, options.baseline_build_dir)
    if options.contenders:
        field = [c for c in field if c[0] in options.contenders.split(',')]
    if not os.path.exists(loadgen) or not field:
        sys.exit('build the benchmarks first: ninja -C %s' % options.build_dir)
    if options.instructions:
        instructions(options, loadgen, field)
        return

    print('machine: %s, %d CPUs, %s; runs: %d (medians), server on CPU 0, load on CPU 1'
          % (platform.node() and platform.platform(), os.cpu_count(),
             platform.python_version(), options.runs))
    print()
    print('| scenario | contender | median s | min-max s | server CPU µs/msg | peak RSS KiB | × raw | × libevent |')
    print('|---|---|---:|---:|---:|---:|---:|---:|')

    for name, args, messages in todo:
        if options.quick:
            args = QUICK[name]
            messages = max(1, messages // 10)
        samples = {c[0]: [] for c in field}
        # A contender that fails one run fails the scenario (its other runs
        # would hide the failure) and is not run again for it.
        failed = {}
        for _ in range(options.runs):
            for contender, argv, env in field:
                if contender in failed:
                    continue
                try:
                    samples[contender].append(run_once(loadgen, argv, env, args, options.timeout))
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    print('# %s %s: %s' % (name, contender, error), file=sys.stderr)
                    failed[contender] = str(error).split(': ')[-1][:60]
        medians = {c: statistics.median(s[0] for s in v)
                   for c, v in samples.items() if v and c not in failed}
        for contender, values in samples.items():
            if contender in failed:
                print('| %s | %s | failed: %s | | | | | |' % (name, contender, failed[contender]))
                continue
            seconds = [v[0] for v in values]
            cpu = statistics.median(v[1] for v in values) / messages * 1e6
            rss = max(v[2] for v in values)
            print('| %s | %s | %.3f | %.3f-%.3f | %.2f | %d | %s | %s |' % (
                name, contender, medians[contender], min(seconds), max(seconds), cpu, rss,
                fmt_ratio(medians[contender], medians.get('raw')),
                fmt_ratio(medians[contender], medians.get('libevent'))))
        sys.stdout.flush()


if __name__ == '__main__':
    main()
