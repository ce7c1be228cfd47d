# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""The TAP output of the example tests (standard library only)."""


class Tap:
    """Prints TAP results; the plan either up front or later with plan()."""

    def __init__(self, planned=None):
        self.number = 0
        self.failed = 0
        if planned is not None:
            self.plan(planned)

    @staticmethod
    def plan(count):
        print(f"1..{count}", flush=True)

    @staticmethod
    def diag(text):
        for line in str(text).rstrip("\n").splitlines() or [""]:
            print(f"# {line}", flush=True)

    def result(self, ok, description, diagnostics=None, directive=None):
        self.number += 1
        if not ok:
            self.failed += 1
        suffix = f" # {directive}" if directive else ""
        print(f"{'ok' if ok else 'not ok'} {self.number} - {description}{suffix}", flush=True)
        if diagnostics and not ok:
            self.diag(diagnostics)

    def skip(self, description, reason):
        self.result(True, description, directive=f"SKIP {reason}")
