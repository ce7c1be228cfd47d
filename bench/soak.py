#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A bounded soak run of the achat benchmark server (not part of the suite).

    /usr/bin/python3 bench/soak.py [--build-dir _build] [--seconds 300]

One server-achat process serves, for the whole time, several load
generators running at once and over and over: 1000 ping connections
(every connection idle for a moment first, holding a partial line),
64-byte lines, counted frames of 100 B, 64 KiB and 1 MiB, and 64 MiB
downloads. Every reply is verified by bench/loadgen; any failure counts
as an error. Prints the messages handled, the errors, and the server's
RSS at the start, every 30 s and at the end.
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import raise_nofile, start_server, stop_server  # noqa: E402

WORKLOADS = [
    ('ping-1000', ['ping', '1000', '20', '--idle', '0.5']),
    ('lines-64', ['lines', '200000', '64']),
    ('frames-100', ['frames', '50000', '100']),
    ('frames-64k', ['frames', '200', '65536']),
    ('frames-1m', ['frames', '20', '1048576']),
    ('download-64m', ['download', str(64 << 20)]),
]


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def fd_count(pid):
    return len(os.listdir('/proc/%d/fd' % pid))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--build-dir', default='_build')
    parser.add_argument('--seconds', type=float, default=300)
    options = parser.parse_args()

    bench = os.path.join(options.build_dir, 'bench')
    loadgen = os.path.join(bench, 'loadgen')
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(options.build_dir, 'achat'))
    server, port = start_server([os.path.join(bench, 'server-achat')], env)
    raise_nofile()

    stats = {name: {'runs': 0, 'messages': 0, 'errors': 0, 'last_error': ''}
             for name, _ in WORKLOADS}
    lock = threading.Lock()
    end = time.monotonic() + options.seconds

    def worker(name, args):
        while time.monotonic() < end:
            result = subprocess.run([loadgen, str(port)] + args + ['--timeout', '120'],
                                    capture_output=True, text=True)
            values = dict(re.findall(r'(\w+)=([\d.e+-]+)', result.stdout))
            with lock:
                s = stats[name]
                s['runs'] += 1
                if result.returncode != 0:
                    s['errors'] += 1
                    s['last_error'] = result.stderr.strip()[:200]
                else:
                    s['messages'] += int(float(values.get('n', '0')))

    start_rss = rss_kib(server.pid)
    start_fds = fd_count(server.pid)
    print('server pid %d, port %d: RSS %d KiB, %d fds at the start' %
          (server.pid, port, start_rss, start_fds))
    threads = [threading.Thread(target=worker, args=w, daemon=True) for w in WORKLOADS]
    for t in threads:
        t.start()
    samples = []
    next_sample = time.monotonic() + 30
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        if time.monotonic() >= next_sample:
            samples.append(rss_kib(server.pid))
            print('  %4.0f s: RSS %d KiB' % (options.seconds - (end - time.monotonic()), samples[-1]))
            sys.stdout.flush()
            next_sample += 30
    for t in threads:
        t.join()
    time.sleep(1)
    end_rss = rss_kib(server.pid)
    end_fds = fd_count(server.pid)
    stop_server(server)

    print()
    print('| workload | runs | messages | errors |')
    print('|---|---:|---:|---:|')
    total = errors = 0
    for name, _ in WORKLOADS:
        s = stats[name]
        total += s['messages']
        errors += s['errors']
        print('| %s | %d | %d | %d |' % (name, s['runs'], s['messages'], s['errors']))
        if s['last_error']:
            print('|   last error: %s | | | |' % s['last_error'])
    print()
    print('%.0f s: %d messages, %d errors; server RSS %d KiB at the start, %d KiB at the end '
          '(peak sample %d KiB); fds %d -> %d; server exit status %d' %
          (options.seconds, total, errors, start_rss, end_rss, max(samples or [end_rss]),
           start_fds, end_fds, server.returncode))
    return 1 if errors or server.returncode != 0 else 0


if __name__ == '__main__':
    sys.exit(main())
