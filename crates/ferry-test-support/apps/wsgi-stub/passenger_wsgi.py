# wsgi-stub: the Python WSGI fixture app of Ferry's integration tests.
#
# Standard library only. Paths are PATH_INFO, so the app works mounted at a base URI too.
# Every response carries `X-Pid` so a test can tell which process answered.
#
#   GET  /hello                -> 200 text/plain "hello world" (with Content-Length)
#   GET  /env                  -> JSON object of every environ entry whose value is a str
#   POST /upload               -> reads wsgi.input in 64 KiB pieces (CONTENT_LENGTH bytes, else
#                                 to end of input), replies JSON {"length": N, "sha256": "<hex>"}
#   GET  /stream?gate=/abs/p   -> generator: "first\n", then waits (10 ms polls, at most 20 s) until
#                                 the file /abs/p exists, then "last\n"
#   GET  /write                -> part of the body through start_response's write(), the rest
#                                 as the returned iterable: "written\n" + "returned\n"
#   GET  /file                 -> wsgi.file_wrapper over ./file.txt (40960 bytes)
#   GET  /cookies              -> three Set-Cookie headers: a=1, b=2, c=3
#   GET  /status/<code>        -> that status with an empty body (204, 304, ...)
#   GET  /large-header?size=N  -> header X-Large of N 'x', body "ok"
#   GET  /error                -> raises RuntimeError("ferry-test-boom")
#   GET  /pid                  -> the process id, as text
#   POST /consume?record=/abs/p -> appends to the record file: "arrived" on entry, "first-byte" once
#                                 the first body byte is read, then "complete N SHA256" or
#                                 "error CLASS: MESSAGE" if reading wsgi.input raises (a body cut
#                                 short); answers JSON {"length": N, "sha256": "<hex>"}
#   anything else              -> 404 "not found"
#
# With FERRY_TEST_LINT=1 in the environment the app is wrapped in wsgiref.validate.validator
# (and its warnings are errors), so every endpoint also checks the server's WSGI compliance.

import hashlib
import json
import os
import time
from http import HTTPStatus
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
FILE = os.path.join(HERE, 'file.txt')
PIECE = 64 * 1024


def headers(content_type='text/plain', *extra):
    return [('Content-Type', content_type), ('X-Pid', str(os.getpid()))] + list(extra)


def text(start_response, body, status='200 OK', content_type='text/plain', extra=()):
    if isinstance(body, str):
        body = body.encode('utf-8')
    start_response(status, headers(content_type, ('Content-Length', str(len(body))), *extra))
    return [body]


def query(environ, name, default=None):
    values = parse_qs(environ.get('QUERY_STRING', '')).get(name)
    return values[0] if values else default


def upload(environ, start_response):
    stream = environ['wsgi.input']
    digest = hashlib.sha256()
    total = 0
    length = environ.get('CONTENT_LENGTH')
    if length:
        remaining = int(length)
        while remaining > 0:
            data = stream.read(min(PIECE, remaining))
            if not data:
                break
            digest.update(data)
            total += len(data)
            remaining -= len(data)
    else:
        while True:
            data = stream.read(PIECE)
            if not data:
                break
            digest.update(data)
            total += len(data)
    body = json.dumps({'length': total, 'sha256': digest.hexdigest()})
    return text(start_response, body, content_type='application/json')


def record_to(path, line):
    """Appends `line` to the file `path` (nothing without a path)."""
    if path:
        with open(path, 'a') as f:
            f.write(line + '\n')


def consume(environ, start_response):
    record = query(environ, 'record')
    record_to(record, 'arrived')
    stream = environ['wsgi.input']
    digest = hashlib.sha256()
    total = 0
    length = int(environ.get('CONTENT_LENGTH') or 0)
    try:
        while total < length:
            data = stream.read(min(PIECE, length - total))
            if not data:
                break
            if not total:
                record_to(record, 'first-byte')
            digest.update(data)
            total += len(data)
    except Exception as e:
        record_to(record, 'error %s: %s' % (type(e).__name__, e))
        raise
    record_to(record, 'complete %d %s' % (total, digest.hexdigest()))
    body = json.dumps({'length': total, 'sha256': digest.hexdigest()})
    return text(start_response, body, content_type='application/json')


def stream(environ, start_response):
    gate = query(environ, 'gate')
    start_response('200 OK', headers())

    def generate():
        yield b'first\n'
        if gate:
            deadline = time.monotonic() + 20
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.01)
        yield b'last\n'

    return generate()


def write(environ, start_response):
    write_body = start_response('200 OK', headers())
    write_body(b'written\n')
    return [b'returned\n']


def status(environ, start_response, code):
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = 'Unknown'
    line = '%d %s' % (code, phrase)
    if code < 200 or code in (204, 304):
        # These responses have no body, so no Content-Type either (wsgiref.validate insists).
        start_response(line, [('X-Pid', str(os.getpid()))])
    else:
        start_response(line, headers('text/plain', ('Content-Length', '0')))
    return []


def app(environ, start_response):
    path = environ.get('PATH_INFO') or '/'
    method = environ['REQUEST_METHOD']
    if path == '/hello':
        return text(start_response, 'hello world')
    if path == '/env':
        env = dict((k, v) for k, v in environ.items() if isinstance(v, str))
        return text(start_response, json.dumps(env, sort_keys=True), content_type='application/json')
    if path == '/upload' and method in ('POST', 'PUT'):
        return upload(environ, start_response)
    if path == '/stream':
        return stream(environ, start_response)
    if path == '/write':
        return write(environ, start_response)
    if path == '/file':
        start_response('200 OK', headers('text/plain', ('Content-Length', str(os.path.getsize(FILE)))))
        return environ['wsgi.file_wrapper'](open(FILE, 'rb'))
    if path == '/cookies':
        return text(start_response, 'cookies', extra=[
            ('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2'), ('Set-Cookie', 'c=3')])
    if path.startswith('/status/'):
        try:
            code = int(path[len('/status/'):])
        except ValueError:
            code = 0
        if 100 <= code <= 599:
            return status(environ, start_response, code)
    if path == '/large-header':
        size = int(query(environ, 'size', '0'))
        return text(start_response, 'ok', extra=[('X-Large', 'x' * size)])
    if path == '/error':
        raise RuntimeError('ferry-test-boom')
    if path == '/pid':
        return text(start_response, str(os.getpid()))
    if path == '/consume' and method in ('POST', 'PUT'):
        return consume(environ, start_response)
    return text(start_response, 'not found', status='404 Not Found')


if os.environ.get('FERRY_TEST_LINT') == '1':
    import warnings
    from wsgiref.validate import WSGIWarning, validator
    warnings.simplefilter('error', WSGIWarning)
    application = validator(app)
else:
    application = app
