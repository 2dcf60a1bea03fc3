#!/usr/bin/env python3
# run.py: runs every test of the Python WSGI loader; exits non-zero when one fails.
#
#   python3 loaders/python/test/run.py              # all tests, loader run by this python
#   python3 loaders/python/test/run.py -k Chunked   # only tests whose name matches
#   FERRY_WSGI_TEST_PYTHON=/usr/bin/python3 python3 loaders/python/test/run.py
#                                                   # loader and apps run by another python

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    sys.dont_write_bytecode = True   # keep the source tree clean
    sys.path.insert(0, HERE)
    argv = [sys.argv[0]] + sys.argv[1:]
    patterns = []
    verbosity = 1
    i = 1
    while i < len(argv):
        if argv[i] == '-k' and i + 1 < len(argv):
            patterns.append(argv[i + 1])
            i += 2
        elif argv[i] == '-v':
            verbosity = 2
            i += 1
        else:
            sys.stderr.write('usage: run.py [-v] [-k PATTERN]...\n')
            return 2
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = ['*%s*' % p for p in patterns]
    suite = loader.discover(HERE, pattern='test_*.py', top_level_dir=HERE)
    result = unittest.TextTestRunner(verbosity=verbosity).run(suite)
    return 0 if result.wasSuccessful() and result.testsRun else 1


if __name__ == '__main__':
    sys.exit(main())
