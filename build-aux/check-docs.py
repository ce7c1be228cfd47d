#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks that the documentation cannot rot. Speaks TAP.

    check-docs.py SOURCE_ROOT [GI_DOCGEN TOML GIR REFERENCE_DIR]

1. Every code block in C, Python, JavaScript or Vala in docs/*.md, README.md
   and the doc comments of achat/ is preceded by a marker naming the file
   it comes from, a file the test suite compiles or runs:

       <!-- snippet: examples/tutorial/line-server.c#handler -->

   and is that file's text (the part between "snippet-begin handler" and
   "snippet-end handler" with "#handler"; the whole file otherwise),
   indentation aside.
2. With gi-docgen: `gi-docgen check` finds no undocumented symbol.
3. With gi-docgen: every relative link of the generated reference (the
   "[src]" links into its source browser, "Website", "Source", the guides'
   links to each other) leads to a file, and its #fragment to an element
   with that id there: line N of a source page is "L-N".
"""

import glob
import html
import os
import re
import subprocess
import sys
import textwrap
from urllib.parse import unquote, urlsplit

CODE_LANGUAGES = {'c', 'python', 'py', 'js', 'javascript', 'vala'}
MARKER = re.compile(r'<!--\s*snippet:\s*([^\s#]+)(?:#(\S+))?\s*-->')
FENCE = re.compile(r'^(\s*)```\s*([A-Za-z]*)\s*$')
COMMENT_LINE = re.compile(r'^\s*\*(?: |$)')


def doc_comment_lines(path):
    """The lines of the /** */ comments of a C file, without their ' * '."""
    lines, inside = [], False
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            stripped = line.rstrip('\n')
            if not inside and stripped.lstrip().startswith('/**'):
                inside = True
                continue
            if inside:
                if stripped.strip().startswith('*/'):
                    inside = False
                    continue
                lines.append((number, COMMENT_LINE.sub('', stripped, count=1)))
    return lines


def markdown_lines(path):
    with open(path, encoding='utf-8') as f:
        return [(number, line.rstrip('\n')) for number, line in enumerate(f, 1)]


def blocks(lines):
    """(line number, language, marker or None, text) of every fenced block."""
    found, i = [], 0
    while i < len(lines):
        number, line = lines[i]
        m = FENCE.match(line)
        if not m:
            i += 1
            continue
        language = m.group(2).lower()
        marker = None
        j = i - 1
        while j >= 0 and not lines[j][1].strip():
            j -= 1
        if j >= 0:
            marker = MARKER.search(lines[j][1])
        body = []
        i += 1
        while i < len(lines) and not FENCE.match(lines[i][1]):
            body.append(lines[i][1])
            i += 1
        found.append((number, language, marker, '\n'.join(body)))
        i += 1
    return found


def region(root, path, name):
    with open(os.path.join(root, path), encoding='utf-8') as f:
        lines = f.read().split('\n')
    if name is None:
        kept = [l for l in lines if 'snippet-begin' not in l and 'snippet-end' not in l]
        return '\n'.join(kept)
    begin = [i for i, l in enumerate(lines) if re.search(r'snippet-begin %s(?=\s|$)' % re.escape(name), l)]
    end = [i for i, l in enumerate(lines) if re.search(r'snippet-end %s(?=\s|$)' % re.escape(name), l)]
    if len(begin) != 1 or len(end) != 1 or end[0] < begin[0]:
        raise LookupError('no single region "%s" in %s' % (name, path))
    return '\n'.join(lines[begin[0] + 1:end[0]])


def normalize(text):
    return textwrap.dedent(text).strip('\n').rstrip()


LINK = re.compile(r'(?:href|src)="([^"]*)"')
ANCHOR = re.compile(r'(?:id|name)="([^"]*)"')


def broken_links(reference):
    """(page, url) of every relative link of @reference that leads nowhere,
    and the number of links checked."""
    anchors, broken, checked = {}, [], 0

    def anchors_of(path):
        if path not in anchors:
            with open(path, encoding='utf-8') as f:
                anchors[path] = set(ANCHOR.findall(f.read()))
        return anchors[path]

    for directory, _, names in os.walk(reference):
        for name in sorted(names):
            if not name.endswith('.html'):
                continue
            page = os.path.join(directory, name)
            with open(page, encoding='utf-8') as f:
                urls = LINK.findall(f.read())
            for url in map(html.unescape, urls):
                parts = urlsplit(url)
                if parts.scheme or url.startswith('//') or not (parts.path or parts.fragment):
                    continue
                checked += 1
                target = (os.path.normpath(os.path.join(directory, unquote(parts.path)))
                          if parts.path else page)
                if not os.path.isfile(target) or (
                        parts.fragment and target.endswith('.html') and
                        parts.fragment not in anchors_of(target)):
                    broken.append((os.path.relpath(page, reference), url))
    return broken, checked


def main():
    root = sys.argv[1]
    sources = sorted(glob.glob(os.path.join(root, 'docs', '*.md')))
    sources.append(os.path.join(root, 'README.md'))
    comment_sources = sorted(glob.glob(os.path.join(root, 'achat', '*.[ch]')) +
                             glob.glob(os.path.join(root, 'achat', '*.h.in')))

    checked, problems = 0, []
    for path in sources + comment_sources:
        lines = markdown_lines(path) if path.endswith('.md') else doc_comment_lines(path)
        rel = os.path.relpath(path, root)
        for number, language, marker, text in blocks(lines):
            if language not in CODE_LANGUAGES:
                continue
            if marker is None:
                problems.append('%s:%d: a %s block without a snippet marker' % (rel, number, language))
                continue
            try:
                expected = region(root, marker.group(1), marker.group(2))
            except (OSError, LookupError) as error:
                problems.append('%s:%d: %s' % (rel, number, error))
                continue
            if normalize(expected) != normalize(text):
                problems.append('%s:%d: differs from %s%s' % (
                    rel, number, marker.group(1), '#' + marker.group(2) if marker.group(2) else ''))
                continue
            checked += 1

    tests = 3 if len(sys.argv) > 5 else 1
    print('1..%d' % tests)
    for problem in problems:
        print('# ' + problem)
    print('%s 1 - %d code blocks match the tested files they come from' %
          ('not ok' if problems else 'ok', checked))

    failed = bool(problems)
    if tests == 3:
        gidocgen, toml, gir, reference = sys.argv[2:6]
        run = subprocess.run([gidocgen, 'check', '--config', toml, gir],
                             capture_output=True, text=True)
        warnings = [l for l in (run.stdout + run.stderr).splitlines() if 'WARNING' in l]
        for w in warnings:
            print('# ' + w)
        ok = run.returncode == 0 and not warnings
        print('%s 2 - gi-docgen check: every public symbol documented' % ('ok' if ok else 'not ok'))
        failed |= not ok

        broken, checked = broken_links(reference)
        for page, url in broken:
            print('# %s: %s leads nowhere' % (page, url))
        srclinks = sum(1 for _ in glob.iglob(os.path.join(reference, 'src', 'achat', '*.html')))
        ok = not broken and checked > 0 and srclinks > 0
        print('%s 3 - the reference\'s %d relative links lead somewhere, [src] into %d source pages'
              % ('ok' if ok else 'not ok', checked, srclinks))
        failed |= not ok
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
