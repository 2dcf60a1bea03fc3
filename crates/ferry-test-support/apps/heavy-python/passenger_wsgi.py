# A "heavy" WSGI app for the smart-spawning tests and bench/smart-spawn.sh: loading it takes a
# second (like importing a framework) and builds a large read-only data structure (like a
# framework's code and caches), which workers forked from a preloader share copy-on-write.
#
#   GET /forked  "true" when an os.register_at_fork(after_in_child=...) hook ran in this process
#   GET /random  a random number drawn now
#   GET /pid     "<pid> <ppid>"
#   GET /size    how many entries the data structure holds
import os
import random
import time

time.sleep(float(os.environ.get('HEAVY_LOAD_SECONDS', '1')))
HEAVY = tuple(('heavy-%d-' % i) * 8 for i in range(int(os.environ.get('HEAVY_ENTRIES', '200000'))))

_forked = [False]


def _after_fork():
    _forked[0] = True


os.register_at_fork(after_in_child=_after_fork)


def application(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    if path == '/forked':
        body = 'true' if _forked[0] else 'false'
    elif path == '/random':
        body = str(random.getrandbits(62))
    elif path == '/pid':
        body = '%d %d' % (os.getpid(), os.getppid())
    elif path == '/size':
        body = str(len(HEAVY))
    else:
        body = 'heavy\n'
    data = body.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(data)))])
    return [data]
