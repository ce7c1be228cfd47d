#!/usr/bin/python3
# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generates the API reference (docs/meson.build): gi-docgen's pages, then a
source browser beside them, so that the reference's "Website" and "Source"
links and every "[src]" link work offline and once installed.

    reference.py GI_DOCGEN TOML CONTENT_DIR OUTPUT_DIR SOURCE_ROOT BUILD_ROOT GIR DEPFILE

The source browser is OUTPUT_DIR/src/: each source file of the library,
its bindings and examples as a highlighted page PATH.html whose line N has
the id "L-N" (the toml's [source-location] points there), a listing
index.html per directory, and README.md as the project's front page with
its links mapped into the reference (docs/X.md to X.html) and the browser.
A file the GIR names that is generated (achat-version.h) is shown from
BUILD_ROOT. A link of the README that leads nowhere fails the build.
DEPFILE names every file shown and every directory walked, so that ninja
regenerates the browser when one changes or a file comes or goes.
"""

import html
import os
import re
import shutil
import subprocess
import sys
from urllib.parse import quote

import markdown
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

# What the browser shows: these directories, walked, and these files.
BROWSED_DIRS = ('achat', 'bindings', 'examples')
BROWSED_FILES = ('README.md', 'COPYING', 'meson.build', 'meson_options.txt')
BROWSED_SUFFIXES = ('.c', '.h', '.in', '.py', '.js', '.vala', '.build', '.metadata',
                    '.xml', '.ui', '.desktop', '.deps', '.txt', '.md', '.template')
# What the README may show as it is.
COPIED_SUFFIXES = ('.png', '.svg', '.jpg')

STYLE = '''
body { font-family: sans-serif; margin: 1em 2em; max-width: 72em; }
nav { margin-bottom: 1em; }
pre { font-size: 90%; }
.source span[id^="L-"]:target { background: #fff3b0; }
.source .linenos { color: #888; user-select: none; }
ul.listing { list-style: none; padding-left: 0; }
'''


def browsed_files(root, walked=None):
    """The files the browser shows, relative to @root; the directories
    walked for them are added to @walked."""
    found = [name for name in BROWSED_FILES if os.path.isfile(os.path.join(root, name))]
    for top in BROWSED_DIRS:
        for directory, subdirs, files in os.walk(os.path.join(root, top)):
            if walked is not None:
                walked.append(directory)
            subdirs[:] = sorted(d for d in subdirs if not d.startswith(('.', '__')))
            for name in sorted(files):
                if name.startswith('.') or not name.endswith(BROWSED_SUFFIXES):
                    continue
                found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def page(title, depth, body):
    up = '../' * depth
    return ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<title>%s</title>\n<link rel="stylesheet" href="%sstyle.css">\n</head>\n<body>\n'
            '<nav><a href="%sindex.html">achat sources</a> &middot; '
            '<a href="%s../index.html">API reference</a></nav>\n%s\n</body>\n</html>\n'
            % (html.escape(title), up, up, up, body))


def breadcrumb(rel, is_dir=False):
    """The heading of the page of @rel: its ancestors as links."""
    parts = rel.split('/')
    depth = len(parts) if is_dir else len(parts) - 1
    crumbs = ['<a href="%sindex.html">%s</a>' % ('../' * (depth - 1 - i), html.escape(part))
              for i, part in enumerate(parts[:-1])]
    crumbs.append(html.escape(parts[-1]))
    return '<h1>%s</h1>' % ' / '.join(crumbs)


def gir_files(gir):
    """The files the GIR's doc and source positions name."""
    with open(gir, encoding='utf-8') as f:
        return set(re.findall(r'filename="([^"]*)"', f.read()))


def render_source(root, rel):
    with open(os.path.join(root, rel), encoding='utf-8') as f:
        text = f.read()
    try:
        lexer = get_lexer_for_filename(rel, text)
    except ClassNotFound:
        lexer = TextLexer()
    formatter = HtmlFormatter(linenos='inline', linespans='L', cssclass='source')
    return page(rel, rel.count('/'), breadcrumb(rel) + highlight(text, lexer, formatter))


def render_listing(rel_dir, entries):
    depth = rel_dir.count('/') + 1 if rel_dir else 0
    items = []
    for name, is_dir in entries:
        target = quote(name) + ('/index.html' if is_dir else '.html')
        items.append('<li><a href="%s">%s%s</a></li>' % (html.escape(target), html.escape(name),
                                                          '/' if is_dir else ''))
    title = rel_dir or 'achat'
    heading = breadcrumb(rel_dir, is_dir=True) if rel_dir else '<h1>achat</h1>'
    return page(title, depth, '%s\n<ul class="listing">\n%s\n</ul>' % (heading, '\n'.join(items)))


LINK = re.compile(r'(href|src)="([^"]*)"')


def render_readme(root, out, browsed, content_pages, problems):
    """README.md as HTML at src/README.md.html, its relative links mapped."""
    with open(os.path.join(root, 'README.md'), encoding='utf-8') as f:
        body = markdown.markdown(f.read(), extensions=['fenced_code', 'tables'])
    dirs = {os.path.dirname(rel) for rel in browsed}
    dirs |= {d for rel in list(dirs) for d in ancestors(rel)}

    def mapped(match):
        attribute, url = match.group(1), html.unescape(match.group(2))
        if re.match(r'^[a-z][a-z0-9+.-]*:', url) or url.startswith(('#', '/')):
            return match.group(0)
        path, hash_, fragment = url.partition('#')
        path = path.rstrip('/')
        base, ext = os.path.splitext(path)
        if path.startswith('docs/') and ext == '.md' and os.path.basename(base) in content_pages:
            target = '../%s.html' % os.path.basename(base)
        elif path in browsed:
            target = path + '.html'
        elif path in dirs:
            target = path + '/index.html'
        elif ext in COPIED_SUFFIXES and os.path.isfile(os.path.join(root, path)):
            os.makedirs(os.path.dirname(os.path.join(out, path)), exist_ok=True)
            shutil.copyfile(os.path.join(root, path), os.path.join(out, path))
            target = path
        else:
            problems.append('README.md: the link %s leads nowhere in the reference' % url)
            return match.group(0)
        return '%s="%s"' % (attribute, html.escape(quote(target) + hash_ + fragment))

    return page('achat', 0, LINK.sub(mapped, body))


def ancestors(rel_dir):
    parts = rel_dir.split('/')
    return ['/'.join(parts[:i]) for i in range(1, len(parts))]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def source_browser(root, build_root, gir, out, content_pages, inputs):
    """Writes the browser into @out; adds what it read to @inputs."""
    walked = []
    browsed = browsed_files(root, walked)
    inputs += walked + [os.path.join(root, rel) for rel in browsed]
    problems = []
    write(os.path.join(out, 'style.css'), STYLE + HtmlFormatter().get_style_defs('.source'))
    for rel in browsed:
        write(os.path.join(out, rel + '.html'), render_source(root, rel))
    for rel in sorted(gir_files(gir) - set(browsed)):
        if os.path.isfile(os.path.join(build_root, rel)):
            write(os.path.join(out, rel + '.html'), render_source(build_root, rel))
            browsed.append(rel)
        else:
            problems.append('%s: named in the GIR, found in neither tree' % rel)

    listing = {}
    for rel in browsed:
        parts = rel.split('/')
        for i in range(len(parts)):
            parent = '/'.join(parts[:i])
            listing.setdefault(parent, set()).add((parts[i], i < len(parts) - 1))
    for rel_dir, entries in listing.items():
        ordered = sorted(entries, key=lambda e: (not e[1], e[0]))
        write(os.path.join(out, rel_dir, 'index.html'), render_listing(rel_dir, ordered))

    write(os.path.join(out, 'README.md.html'),
          render_readme(root, out, set(browsed), content_pages, problems))
    return problems


TYPE_FUNC_LINK = re.compile(r'href="type_func\.([^"#]+)\.html')


def relink_constructors(output_dir):
    """gi-docgen 2024's page of an async type function links its finish
    function as a type function even when the finish is a constructor
    (achat_channel_connect_finish()): point such links at the ctor page."""
    for name in os.listdir(output_dir):
        if not name.endswith('.html'):
            continue
        path = os.path.join(output_dir, name)
        with open(path, encoding='utf-8') as f:
            text = f.read()

        def fixed(match):
            if (not os.path.exists(os.path.join(output_dir, 'type_func.%s.html' % match.group(1)))
                    and os.path.exists(os.path.join(output_dir, 'ctor.%s.html' % match.group(1)))):
                return 'href="ctor.%s.html' % match.group(1)
            return match.group(0)

        relinked = TYPE_FUNC_LINK.sub(fixed, text)
        if relinked != text:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(relinked)


def make_escape(path):
    return path.replace('$', '$$').replace(' ', '\\ ').replace('#', '\\#')


def main():
    gidocgen, toml, content_dir, output_dir, root, build_root, gir, depfile = sys.argv[1:9]
    if os.path.isdir(output_dir):
        shutil.rmtree(output_dir)   # no page of a symbol that is gone
    subprocess.run([gidocgen, 'generate', '--quiet', '--fatal-warnings', '--no-namespace-dir',
                    '--config=' + toml, '--output-dir=' + output_dir,
                    '--content-dir=' + content_dir, gir], check=True)
    relink_constructors(output_dir)
    content_pages = {os.path.splitext(name)[0] for name in os.listdir(content_dir)
                     if name.endswith('.md')}
    inputs = []
    problems = source_browser(root, build_root, gir, os.path.join(output_dir, 'src'),
                              content_pages, inputs)
    with open(depfile, 'w', encoding='utf-8') as f:
        f.write('%s: %s\n' % (make_escape(output_dir),
                              ' \\\n  '.join(make_escape(os.path.abspath(i)) for i in inputs)))
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
