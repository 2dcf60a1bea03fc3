# A WSGI app for the re-forking tests (refork_after, issue 22). Like a framework app, it loads
# code lazily: the first request builds a large structure (LAZY_ENTRIES strings), so a worker
# that has served requests holds memory a cold preloader does not. It defines the
# `ferry_promoted_to_template` hook the WSGI loader calls when this process becomes the template:
# the template remembers its own pid, and every worker forked from it inherits that.
#
#   GET /pid        "<pid> <ppid>"
#   GET /promoted   the pid of the template this process was forked from ("" if none)
#   GET /lazy       how many lazily built entries this process holds (built on first use)
#   GET /           "refork\n"
#
# With REFORK_EVENT_FILE set, the hook also appends "promoted_to_template <pid>\n" to that file.
import os

_state = {'promoted_in': None, 'lazy': None}


def ferry_promoted_to_template():
    _state['promoted_in'] = os.getpid()
    path = os.environ.get('REFORK_EVENT_FILE')
    if path:
        with open(path, 'a') as f:
            f.write('promoted_to_template %d\n' % os.getpid())


def lazy():
    if _state['lazy'] is None:
        n = int(os.environ.get('LAZY_ENTRIES', '50000'))
        _state['lazy'] = tuple(('lazy-%d-' % i) * 8 for i in range(n))
    return _state['lazy']


def application(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    if path == '/pid':
        body = '%d %d' % (os.getpid(), os.getppid())
    elif path == '/promoted':
        body = str(_state['promoted_in'] or '')
    elif path == '/lazy':
        body = str(len(lazy()))
    else:
        lazy()
        body = 'refork\n'
    data = body.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(data)))])
    return [data]
