# SPDX-FileCopyrightText: 2026 The achat authors
# SPDX-License-Identifier: LGPL-2.1-or-later

"""Runs the unittest test cases of a module and reports them as TAP.

    if __name__ == '__main__':
        taptest.main()

prints "1..N", then one "ok"/"not ok" line per test, with the traceback of
a failure as "# " lines, and exits with a non-zero status if any test
failed.
"""

import sys
import unittest


def _diagnostic(text):
    return ''.join('# ' + line + '\n' for line in text.rstrip('\n').split('\n'))


class TapResult(unittest.TestResult):
    """Prints a TAP line when each test stops."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.number = 0
        self.problems = []
        self.skip_reason = None

    def startTest(self, test):
        super().startTest(test)
        self.number += 1
        self.problems = []
        self.skip_reason = None

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.problems.append(self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        self.problems.append(self.errors[-1][1])

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.problems.append(f'{subtest}\n' + self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.skip_reason = reason

    def stopTest(self, test):
        super().stopTest(test)
        name = test.id().removeprefix('__main__.')
        if self.problems:
            line = f'not ok {self.number} - {name}\n'
            line += ''.join(_diagnostic(problem) for problem in self.problems)
        elif self.skip_reason is not None:
            line = f'ok {self.number} - {name} # SKIP {self.skip_reason}\n'
        else:
            line = f'ok {self.number} - {name}\n'
        self.stream.write(line)
        self.stream.flush()


def main(module='__main__'):
    """Runs every test case of @module and exits with the TAP status."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[module])
    sys.stdout.write(f'1..{suite.countTestCases()}\n')
    sys.stdout.flush()
    result = TapResult(sys.stdout)
    suite.run(result)
    sys.exit(0 if result.wasSuccessful() else 1)
