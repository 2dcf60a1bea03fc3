# The loader tests' WSGI app: one route per behaviour the loader must get right.
#
# TEST_LINT=1 wraps it in wsgiref.validate.validator (warnings are errors);
# TEST_ATEXIT_MARKER=<path> makes an atexit handler create that file.

import atexit
import hashlib
import io
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, 'data.bin')
CLOSED = []
BARRIER = threading.Barrier(int(os.environ.get('TEST_BARRIER', '4')))

if not os.path.exists(DATA):
    with open(DATA, 'wb') as f:
        f.write(bytes(range(256)) * 400)   # 102400 bytes


def on_exit():
    marker = os.environ.get('TEST_ATEXIT_MARKER')
    if marker:
        with open(marker, 'w') as f:
            f.write('atexit ran')


atexit.register(on_exit)


def q(environ, name, default=None):
    values = parse_qs(environ.get('QUERY_STRING', '')).get(name)
    return values[0] if values else default


def reply(start_response, body, status='200 OK', ctype='text/plain', extra=()):
    if isinstance(body, str):
        body = body.encode('utf-8')
    start_response(status, [('Content-Type', ctype), ('Content-Length', str(len(body)))] + list(extra))
    return [body]


def reply_json(start_response, obj):
    return reply(start_response, json.dumps(obj, sort_keys=True), ctype='application/json')


class Tracked(object):
    """An iterable that records its close() and can fail at a given item."""

    def __init__(self, name, items, fail_at=None):
        self.name = name
        self.items = items
        self.fail_at = fail_at

    def __iter__(self):
        for i, item in enumerate(self.items):
            if i == self.fail_at:
                raise RuntimeError('boom-' + self.name)
            yield item

    def close(self):
        CLOSED.append(self.name)


def read_body(environ, mode):
    stream = environ['wsgi.input']
    lines = None
    if mode == 'read':
        data = stream.read()
    elif mode == 'read64':
        parts = []
        while True:
            piece = stream.read(65536)
            if not piece:
                break
            parts.append(piece)
        data = b''.join(parts)
    elif mode == 'readline':
        parts = []
        while True:
            line = stream.readline()
            if not line:
                break
            parts.append(line)
        lines = len(parts)
        data = b''.join(parts)
    elif mode == 'readline-limited':
        parts = []
        while True:
            line = stream.readline(7)
            if not line:
                break
            assert len(line) <= 7
            parts.append(line)
        data = b''.join(parts)
    elif mode == 'iter':
        parts = list(stream)
        lines = len(parts)
        data = b''.join(parts)
    elif mode == 'readlines':
        parts = stream.readlines()
        lines = len(parts)
        data = b''.join(parts)
    elif mode == 'readinto':
        parts = []
        buf = bytearray(10000)
        while True:
            n = stream.readinto(buf)
            if not n:
                break
            parts.append(bytes(buf[:n]))
        data = b''.join(parts)
    elif mode == 'none':
        return b'', None
    else:
        raise ValueError(mode)
    # Reading after the end keeps answering "end of input".
    assert stream.read(1) == b''
    assert stream.readline() == b''
    return data, lines


def app(environ, start_response):
    path = environ.get('PATH_INFO') or '/'
    if path == '/hello':
        return reply(start_response, 'hello')
    if path == '/single':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'single']
    if path == '/list':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'hello ', b'world']
    if path == '/env':
        info = {
            'str': dict((k, v) for k, v in environ.items() if isinstance(v, str)),
            'version': list(environ['wsgi.version']),
            'multithread': environ['wsgi.multithread'],
            'multiprocess': environ['wsgi.multiprocess'],
            'run_once': environ['wsgi.run_once'],
            'input_terminated': environ.get('wsgi.input_terminated'),
            'errors_is_stderr': environ['wsgi.errors'] is sys.stderr,
            'has_file_wrapper': callable(environ.get('wsgi.file_wrapper')),
            'non_str': sorted(k for k, v in environ.items() if not isinstance(v, str)),
            'sys_path': sys.path,
            'thread': threading.current_thread().name,
            'main_thread': threading.current_thread() is threading.main_thread(),
        }
        return reply_json(start_response, info)
    if path == '/echo':
        data, lines = read_body(environ, q(environ, 'mode', 'read64'))
        return reply_json(start_response, {
            'length': len(data), 'sha256': hashlib.sha256(data).hexdigest(), 'lines': lines,
            'content_length': environ.get('CONTENT_LENGTH'),
            'te': environ.get('HTTP_TRANSFER_ENCODING'),
        })
    if path == '/echo-lines':
        # Answers each line of the request body as soon as it has arrived.
        start_response('200 OK', [('Content-Type', 'text/plain')])
        stream = environ['wsgi.input']

        def lines():
            while True:
                line = stream.readline()
                if not line:
                    break
                yield b'got ' + line
        return lines()
    if path == '/stream':
        gate = q(environ, 'gate')
        start_response('200 OK', [('Content-Type', 'text/plain')])

        def gen():
            yield b'first\n'
            deadline = time.monotonic() + 20
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.01)
            yield b'last\n'
        return gen()
    if path == '/write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'one,')
        write(b'two,')
        return [b'three']
    if path == '/write-only':
        write = start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '3')])
        write(b'all')
        return []
    if path == '/file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(DATA, 'rb'))
    if path == '/file-offset':
        f = open(DATA, 'rb')
        f.read(1000)
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](f, 4096)
    if path == '/file-nofileno':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](io.BytesIO(b'in memory ' * 1000), 777)
    if path == '/tracked':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        n = int(q(environ, 'n', '0'))
        return Tracked(q(environ, 'name', 'ok'), [b'x' * 65536] * n if n else [b'a', b'b'])
    if path == '/tracked-fail':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return Tracked(q(environ, 'name'), [b'a', b'b', b'c'], fail_at=int(q(environ, 'at')))
    if path == '/closed':
        return reply_json(start_response, CLOSED)
    if path == '/cookies':
        return reply(start_response, 'cookies', extra=[
            ('Set-Cookie', 'a=1'), ('Set-Cookie', 'b=2'), ('Set-Cookie', 'c=3')])
    if path == '/status':
        code = int(q(environ, 'code'))
        line = {204: '204 No Content', 304: '304 Not Modified', 404: '404 Not Found'}[code]
        if code in (204, 304):
            start_response(line, [('X-Code', str(code))])
        else:
            start_response(line, [('Content-Type', 'text/plain')])
        return [b'a body that must not be sent' if code in (204, 304) else b'body']
    if path == '/error':
        raise RuntimeError('boom-error')
    if path == '/error-after-start':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        raise ValueError('boom-late')
    if path == '/exc-info':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        try:
            raise KeyError('handled')
        except KeyError:
            start_response('503 Service Unavailable', [('Content-Type', 'text/plain')], sys.exc_info())
        return [b'replaced']
    if path == '/pid':
        return reply(start_response, str(os.getpid()))
    if path == '/big':
        n = int(q(environ, 'n'))
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])

        def gen():
            left = n
            piece = b'z' * 65536
            while left > 0:
                yield piece[:left]
                left -= 65536
        return gen()
    if path == '/large-header':
        return reply(start_response, 'ok', extra=[('X-Large', 'x' * int(q(environ, 'size')))])
    if path == '/bad-header':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Bad', 'a\r\nInjected: yes')])
        return [b'bad']
    if path == '/str-body':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return ['not bytes']
    if path == '/short':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '10')])
        return iter([b'12345'])
    if path == '/empty-gen':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return (b'' for _ in range(3))
    if path == '/conn-close':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('Connection', 'close')])
        return [b'bye']
    if path == '/barrier':
        try:
            index = BARRIER.wait(timeout=20)
        except threading.BrokenBarrierError:
            return reply(start_response, 'barrier broken', status='500 Internal Server Error')
        return reply(start_response, 'passed %d %s' % (index, threading.current_thread().name))
    if path == '/exit':
        raise SystemExit(3)
    return reply(start_response, 'not found', status='404 Not Found')


if os.environ.get('TEST_LINT') == '1':
    import warnings
    from wsgiref.validate import WSGIWarning, validator
    warnings.simplefilter('error', WSGIWarning)
    application = validator(app)
else:
    application = app
