#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""A project that uses achat (tests/consumer) builds both ways: with achat
as a meson subproject (dependency('achat-1.0', fallback: 'achat'), found
through meson.override_dependency()) and through pkg-config against an
installed achat. As a subproject, achat builds its library and nothing of
its tests, examples or benchmarks.

Usage: test-consumer.py SOURCE_ROOT BUILD_ROOT (TAP on stdout)."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

MESON = shutil.which('meson', path='/usr/bin') or 'meson'
# What achat may build as a subproject: the library, its framing engine
# (linked into it), the generated enum sources and its resources (the GJS
# module it carries).
ALLOWED = {'achat-1.0', 'achat-framer', 'achat-enums.h', 'achat-enums.c',
           'achat-resources_c', 'achat-resources_h'}

source_root, build_root = sys.argv[1], sys.argv[2]
results = []


def result(ok, name, detail=''):
    results.append(ok)
    print(f'{"ok" if ok else "not ok"} {len(results)} - {name}', flush=True)
    if detail and not ok:
        for line in detail.strip().splitlines()[-25:]:
            print(f'# {line}', flush=True)


def run(args, env=None, cwd=None):
    process = subprocess.run(args, env=env, cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=600)
    return process.returncode, process.stdout


def environment(**extra):
    env = dict(os.environ)
    # Compilers and meson are not code under test.
    env.pop('LD_PRELOAD', None)
    env.update(extra)
    return env


def consumer_copy(workdir):
    project = os.path.join(workdir, 'consumer')
    shutil.copytree(os.path.join(source_root, 'tests', 'consumer'), project)
    return project


if os.environ.get('ACHAT_TEST_MEMORY_TOOL'):
    print('1..0 # SKIP builds projects with the compiler; the normal build runs it')
    sys.exit(0)

print('1..7', flush=True)
with tempfile.TemporaryDirectory(prefix='achat-consumer-') as workdir:
    # 1-2. achat as a subproject.
    project = consumer_copy(workdir)
    os.mkdir(os.path.join(project, 'subprojects'))
    os.symlink(source_root, os.path.join(project, 'subprojects', 'achat'))
    build = os.path.join(workdir, 'build-subproject')
    status, output = run([MESON, 'setup', build, project], env=environment())
    if status == 0:
        status, more = run([MESON, 'compile', '-C', build], env=environment())
        output += more
    if status == 0:
        status, more = run([os.path.join(build, 'consumer')], env=environment())
        output += more
    result(status == 0 and 'ok' in output.splitlines()[-1],
           'as a subproject: the consumer builds and runs', output)

    status, targets_json = run([MESON, 'introspect', '--targets', build], env=environment())
    targets = json.loads(targets_json) if status == 0 else []
    ours = sorted(t['name'] for t in targets if t.get('subproject') == 'achat')
    print(f'# achat targets built as a subproject ({len(ours)}): {", ".join(ours)}', flush=True)
    result(status == 0 and 'achat-1.0' in ours and set(ours) <= ALLOWED,
           'as a subproject: only the library, no test, example or benchmark',
           f'achat built: {ours}')

    # 3-4. Installed, found through pkg-config.
    destdir = os.path.join(workdir, 'dest')
    status, output = run([MESON, 'install', '-C', build_root, '--destdir', destdir,
                          '--no-rebuild', '--quiet'], env=environment())
    pcdirs = [root for root, dirs, files in os.walk(destdir) if 'achat-1.0.pc' in files]
    result(status == 0 and len(pcdirs) == 1, 'installs achat-1.0.pc', output)

    libdirs = [root for root, dirs, files in os.walk(destdir)
               if any(f.startswith('libachat-1.0.so') for f in files)]
    # The .pc file names the prefix the build was configured with: point it
    # into the scratch directory (its other paths are relative to it).
    pcdir = os.path.join(workdir, 'pkgconfig')
    os.mkdir(pcdir)
    with open(os.path.join(pcdirs[0] if pcdirs else destdir, 'achat-1.0.pc')) as f:
        pc = [f'prefix={destdir}{line[len("prefix="):]}' if line.startswith('prefix=') else line
              for line in f.read().splitlines()]
    with open(os.path.join(pcdir, 'achat-1.0.pc'), 'w') as f:
        f.write('\n'.join(pc) + '\n')
    env = environment(PKG_CONFIG_PATH=pcdir, LD_LIBRARY_PATH=':'.join(libdirs))
    project = consumer_copy(os.path.join(workdir, 'installed'))
    build = os.path.join(workdir, 'build-installed')
    status, output = run([MESON, 'setup', '--wrap-mode=nofallback', build, project], env=env)
    if status == 0:
        status, more = run([MESON, 'compile', '-C', build], env=env)
        output += more
    if status == 0:
        status, more = run([os.path.join(build, 'consumer')], env=env)
        output += more
    result(status == 0 and 'ok' in output.splitlines()[-1] and 'subprojects' not in output,
           'through pkg-config: the consumer builds and runs against the installed achat',
           output)

    # 5. Vala, through the uninstalled vapi and its .deps.
    valac = shutil.which('valac')
    vapidir = os.path.join(build_root, 'achat')
    if valac is None or not os.path.exists(os.path.join(vapidir, 'achat-1.0.vapi')):
        print('ok 5 - Vala, through the uninstalled vapi # SKIP no valac or no vapi in this build',
              flush=True)
    else:
        program = os.path.join(workdir, 'consumer-vala')
        status, output = run([valac, '--vapidir', vapidir, '--pkg', 'achat-1.0',
                              '-X', '-I' + build_root, '-X', '-I' + source_root,
                              '-X', '-I' + vapidir, '-X', '-I' + os.path.join(source_root, 'achat'),
                              '-X', '-L' + vapidir, '-X', '-lachat-1.0', '-o', program,
                              os.path.join(source_root, 'tests', 'consumer', 'consumer.vala')],
                             env=environment(), cwd=workdir)
        if status == 0:
            status, more = run([program], env=environment(LD_LIBRARY_PATH=vapidir))
            output += more
        result(status == 0 and output.strip().endswith('vala: ok'),
               'Vala, through the uninstalled vapi (GIO from its .deps, cancellables optional)',
               output)

    # 6-7. `meson devenv` of this build: the Python override, the GJS module.
    status, output = run([MESON, 'devenv', '-C', build_root, '/usr/bin/python3', '-c',
                          'import gi; gi.require_version("Achat", "1.0"); '
                          'from gi.repository import Achat; '
                          'print("override", callable(getattr(Achat.Channel, "read_line", None)))'],
                         env=environment(), cwd=workdir)
    result(status == 0 and 'override True' in output,
           'meson devenv: Python loads this build with the override', output)
    gjs = shutil.which('gjs')
    if gjs is None:
        print('ok 7 - meson devenv: GJS # SKIP no gjs', flush=True)
    else:
        script = os.path.join(workdir, 'devenv.js')
        with open(script, 'w') as f:
            f.write("import GObject from 'gi://GObject';\n"
                    "import Achat from 'gi://Achat?version=1.0';\n"
                    "GObject.type_ensure(Achat.Channel.$gtype);\n"
                    "const module = await import('resource:///org/gnome/Achat/js/achat.js');\n"
                    "print(`module ${typeof module.readLine}`);\n")
        status, output = run([MESON, 'devenv', '-C', build_root, gjs, '-m', script],
                             env=environment(), cwd=workdir)
        result(status == 0 and 'module function' in output,
               'meson devenv: GJS loads this build and its module, no path', output)

sys.exit(0 if all(results) else 1)
