#!/usr/bin/env python3
# asgi-loader.py: Ferry's loader ("wrapper") for Python ASGI 3 apps (FastAPI, Starlette,
# Django's ASGI handler, ...): HTTP, WebSocket and lifespan scopes on asyncio, with uvloop when
# it is installed.
#
# Ferry runs `python3 asgi-loader.py` for an app of type `asgi`; wsgi-loader.py hands over to it
# when the `application` (or `app`) of a passenger_wsgi.py is an ASGI callable. The loader
# imports the app, runs its lifespan startup, listens on a unix socket, reports it (SpawningKit
# handshake) and serves the `session` protocol: one connection from Ferry per request in
# progress, up to `asgi_concurrency` of them at once. The contract is loaders/PROTOCOL.md.
#
# The handshake, the preloader (smart spawning), SIGQUIT backtraces and the error reports are
# wsgi-loader.py's, loaded from beside this file, so both loaders behave alike.
#
# Standard library only (uvloop optional); runs on Python 3.8 and later.

import asyncio
import base64
import errno
import hashlib
import http
import os
import random
import select
import signal
import socket
import struct
import sys
import time
import traceback
from hmac import compare_digest

HERE = os.path.dirname(os.path.abspath(__file__))
WSGI_LOADER = os.path.join(HERE, 'wsgi-loader.py')

DEFAULT_CONCURRENCY = 256  # ferry_config::defaults::ASGI_CONCURRENCY
MAX_FRAME = 1 << 20        # request heads are at most 1 MiB (PROTOCOL.md 2.1)
MAX_LINE = 1 << 16         # chunk-size and trailer lines
BODY_HIGH = 1 << 20        # request body buffered before reading from Ferry pauses
WRITE_HIGH = 1 << 16       # response bytes buffered before send() waits
FILE_BLOCK = 1 << 18       # http.response.pathsend reads
WS_MAX_MESSAGE = 16 << 20  # largest WebSocket message taken (uvicorn's default)
WS_CLOSE_WAIT = 10         # seconds to wait for the client's close frame after ours
WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

ASGI_HTTP = '2.3'          # spec versions of what this server implements, per scope type
ASGI_WEBSOCKET = '2.4'
ASGI_LIFESPAN = '2.0'

_debug = False
W = None                   # wsgi-loader.py, as a module (bind())


def log(message):
    """Writes one diagnostic line to stderr (Ferry logs it as app output)."""
    try:
        err = sys.stderr
        err.write('[ferry-asgi pid=%d] %s\n' % (os.getpid(), message))
        err.flush()
    except Exception:
        pass


def bind(wsgi_loader=None):
    """Takes the shared handshake code from `wsgi_loader`, else loads wsgi-loader.py."""
    global W
    if wsgi_loader is None:
        import importlib.machinery
        import importlib.util
        name = '_ferry_wsgi_loader'
        loader = importlib.machinery.SourceFileLoader(name, WSGI_LOADER)
        spec = importlib.util.spec_from_file_location(name, WSGI_LOADER, loader=loader)
        wsgi_loader = importlib.util.module_from_spec(spec)
        sys.modules[name] = wsgi_loader
        saved = sys.dont_write_bytecode
        sys.dont_write_bytecode = True   # no __pycache__ in the loaders' directory
        try:
            spec.loader.exec_module(wsgi_loader)
        finally:
            sys.dont_write_bytecode = saved
    W = wsgi_loader
    return W


# ---------------------------------------------------------------------------
# Loading the app
# ---------------------------------------------------------------------------

def split_startup(startup, name):
    """`main.py:app` (when no such file exists) -> ('main.py', 'app')."""
    if name or os.path.exists(startup):
        return startup, name
    base, sep, attr = startup.rpartition(':')
    if sep and attr and all(p.isidentifier() for p in attr.split('.')):
        return base, attr
    return startup, name


def module_name(app_root, startup):
    """The module a startup file is imported as (main.py -> main, mysite/asgi.py -> mysite.asgi),
    or None when its path names no module."""
    rel = os.path.relpath(startup, app_root)
    if rel.startswith('..') or not rel.endswith('.py'):
        return None
    parts = rel[:-3].split(os.sep)
    if parts[-1] == '__init__':
        parts.pop()
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    name = '.'.join(parts)
    return None if name in sys.modules else name


def import_startup(app_root, startup):
    """Imports the startup file: as the module its path names when it has one (so that
    `from main import x` and relative imports find the same module), else by path."""
    import importlib
    import importlib.machinery
    import importlib.util
    if not os.path.isfile(startup):
        raise W.LoadError(
            'The startup file %s does not exist' % startup,
            problem='Ferry was told to load the ASGI app from %s, but there is no such file.' % startup,
            solution='Pass the file that defines the ASGI app with --startup-file (for example '
                     'main.py:app or mysite/asgi.py), or create %s.' % os.path.basename(startup))
    name = module_name(app_root, startup)
    if name is not None:
        module = importlib.import_module(name)
        found = getattr(module, '__file__', None)
        if found and os.path.exists(found) and os.path.samefile(found, startup):
            return module
    name = '__ferry_asgi_app__'
    loader = importlib.machinery.SourceFileLoader(name, startup)
    spec = importlib.util.spec_from_file_location(name, startup, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def load_app(app_root, args):
    """The ASGI callable: the startup file's NAME for `FILE:NAME`, else its `application`, else
    its `app`."""
    startup = args.get('startup_file') or 'asgi.py'
    startup, name = split_startup(os.path.join(app_root, startup), args.get('app_callable'))
    module = import_startup(app_root, startup)
    if name:
        app = module
        for part in name.split('.'):
            app = getattr(app, part, None)
            if app is None:
                raise W.LoadError(
                    'The startup file %s does not define `%s`' % (startup, name),
                    problem='Ferry loaded %s, but found no `%s` in it.' % (startup, name),
                    solution='Name the ASGI callable after the colon: %s:NAME.' % startup)
    else:
        app = getattr(module, 'application', None)
        if app is None:
            app = getattr(module, 'app', None)
        if app is None:
            raise W.LoadError(
                'The startup file %s defines neither `application` nor `app`' % startup,
                problem='Ferry loaded the startup file %s, but it defines no variable named '
                        '`application` or `app`.' % startup,
                solution='Make %s define the ASGI app as `application` or `app`, or name it '
                         'with --startup-file FILE:NAME.' % startup)
    if not callable(app):
        raise W.LoadError('%s in %s is not callable (it is a %s); it must be the ASGI app'
                          % (name or 'The app', startup, type(app).__name__))
    return app


# ---------------------------------------------------------------------------
# Lifespan
# ---------------------------------------------------------------------------

class StartupFailed(Exception):
    """The app's lifespan startup failed; `details` is its traceback or message."""

    def __init__(self, summary, details):
        Exception.__init__(self, summary)
        self.summary = summary
        self.details = details


class Lifespan(object):
    """The lifespan scope: one task running the app, fed `lifespan.startup` and, at the end,
    `lifespan.shutdown`. An app that raises before it first calls receive() does not support
    lifespan, and gets no events (the spec's rule)."""

    def __init__(self, app, loop):
        self.app = app
        self.loop = loop
        self.state = {}
        self.inbox = []
        self.waiter = None
        self.answer = None
        self.received = False
        self.supported = False
        self.task = None

    async def receive(self):
        self.received = True
        while not self.inbox:
            self.waiter = self.loop.create_future()
            await self.waiter
        return {'type': self.inbox.pop(0)}

    async def send(self, message):
        kind = message['type']
        if kind not in ('lifespan.startup.complete', 'lifespan.startup.failed',
                        'lifespan.shutdown.complete', 'lifespan.shutdown.failed'):
            raise RuntimeError('unexpected ASGI message %r in the lifespan scope' % kind)
        if self.answer is not None and not self.answer.done():
            self.answer.set_result(message)

    def _post(self, event):
        self.inbox.append(event)
        self.answer = self.loop.create_future()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def _exchange(self, event):
        """Posts `event` and waits for the app's answer, or for its task to end (None)."""
        self._post(event)
        await asyncio.wait([self.answer, self.task], return_when=asyncio.FIRST_COMPLETED)
        return self.answer.result() if self.answer.done() else None

    async def startup(self):
        scope = {'type': 'lifespan', 'asgi': {'version': '3.0', 'spec_version': ASGI_LIFESPAN},
                 'state': self.state}
        self.task = self.loop.create_task(self.call_app(scope))
        answer = await self._exchange('lifespan.startup')
        if answer is not None and answer['type'] == 'lifespan.startup.complete':
            self.supported = True
            return
        error = self._task_error()
        if answer is not None:   # lifespan.startup.failed
            message = str(answer.get('message') or '')
            details = message
            if error is not None and not message.strip():
                details = format_error(error)
            first = message.strip().splitlines()[-1:] or ['no message']
            raise StartupFailed('The application\'s lifespan startup failed: %s' % first[0], details)
        if error is not None and self.received:
            raise StartupFailed('The application\'s lifespan startup raised %s: %s'
                                % (type(error).__name__, error), format_error(error))
        if error is not None:
            if _debug:
                log('the app does not support the lifespan scope (it raised %s: %s)'
                    % (type(error).__name__, error))
        else:
            log('the app returned from the lifespan scope without answering lifespan.startup; '
                'running without lifespan events')

    def call_app(self, scope):
        """The app's coroutine for the lifespan scope: the first call, which tells an ASGI 3 app
        (it returns a coroutine) from anything else."""
        try:
            coro = self.app(scope, self.receive, self.send)
        except Exception as e:
            raise W.LoadError(
                'The app cannot be called as an ASGI 3 app: %s (%s)' % (e, type(e).__name__),
                problem='Ferry loaded the app and called it with a lifespan scope, as ASGI 3 '
                        'servers do, but the call failed: it is not an ASGI 3 callable '
                        'app(scope, receive, send).',
                solution='Point Ferry at the ASGI app object (--startup-file FILE.py:NAME), or run '
                         'a WSGI app with --app-type python.')
        if not asyncio.iscoroutine(coro) and not hasattr(coro, '__await__'):
            raise W.LoadError('The app is not an ASGI 3 app: calling it returned a %s, not a '
                              'coroutine' % type(coro).__name__)
        return coro

    def _task_error(self):
        if not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()

    async def shutdown(self):
        if not self.supported or self.task.done():
            return
        answer = await self._exchange('lifespan.shutdown')
        if answer is not None and answer['type'] == 'lifespan.shutdown.failed':
            log('the application\'s lifespan shutdown failed: %s' % (answer.get('message') or ''))
        elif answer is None and self._task_error() is not None:
            log('the application\'s lifespan shutdown raised:\n%s'
                % format_error(self._task_error()).rstrip())


def format_error(e):
    return ''.join(traceback.format_exception(type(e), e, e.__traceback__))


def report_startup_failure(wd, step, e):
    """A failed lifespan startup as a spawn error (PROTOCOL.md 1.4); exits."""
    wd.step_end(step, False)
    wd.write('response/error/category', 'INTERNAL_ERROR')
    wd.write('response/error/summary', e.summary)
    wd.write('response/error/problem_description.txt',
             'The application was loaded, but its ASGI lifespan startup (its startup handlers or '
             'lifespan function) failed, so the process never reported itself ready.\n')
    wd.write('response/error/solution_description.txt',
             'Fix the error shown in the details below. A lifespan startup runs in each process, '
             'after the app is imported and before the process takes requests.\n')
    wd.write('response/error/advanced_problem_details', e.details)
    try:
        sys.stderr.write('Error: %s\n%s\n' % (e.summary, e.details))
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(1)


# ---------------------------------------------------------------------------
# Request heads and bodies
# ---------------------------------------------------------------------------

class BodyError(Exception):
    """The request body is malformed."""


class ClientDisconnected(OSError):
    """send() on a WebSocket whose client has gone (ASGI spec 2.4)."""


# CGI variable -> ASGI header name, or False for a variable that is not a header.
_NAMES = {b'CONTENT_TYPE': b'content-type', b'CONTENT_LENGTH': b'content-length'}


def header_name(key):
    name = _NAMES.get(key)
    if name is None:
        if key[:5] == b'HTTP_':
            name = key[5:].lower().replace(b'_', b'-')
        else:
            name = False
        if len(_NAMES) < 4096:
            _NAMES[key] = name
    return name


class Chunked(object):
    """Decodes a chunked request body as it arrives."""
    __slots__ = ('buf', 'state', 'left')

    SIZE, DATA, CRLF, TRAILER, DONE = range(5)

    def __init__(self):
        self.buf = b''
        self.state = Chunked.SIZE
        self.left = 0

    def feed(self, data):
        """The body bytes in `data`, as a list; raises BodyError."""
        out = []
        buf = self.buf + data if self.buf else data
        pos = 0
        end = len(buf)
        while pos < end:
            state = self.state
            if state == Chunked.DATA:
                take = min(self.left, end - pos)
                out.append(buf[pos:pos + take])
                pos += take
                self.left -= take
                if not self.left:
                    self.state = Chunked.CRLF
                continue
            if state == Chunked.DONE:
                pos = end
                break
            i = buf.find(b'\n', pos)
            if i < 0:
                if end - pos > MAX_LINE:
                    raise BodyError('a chunk-size or trailer line is too long')
                break
            line = buf[pos:i + 1]
            pos = i + 1
            if state == Chunked.CRLF:
                if line not in (b'\r\n', b'\n'):
                    raise BodyError('malformed chunked request body near %r' % line[:40])
                self.state = Chunked.SIZE
            elif state == Chunked.SIZE:
                digits = line.split(b';', 1)[0].strip()
                if not digits or digits.strip(b'0123456789abcdefABCDEF'):
                    raise BodyError('malformed chunked request body near %r' % line[:40])
                self.left = int(digits, 16)
                self.state = Chunked.DATA if self.left else Chunked.TRAILER
            elif line in (b'\r\n', b'\n'):
                self.state = Chunked.DONE
        self.buf = buf[pos:] if pos < end else b''
        return out

    @property
    def done(self):
        return self.state == Chunked.DONE


# ---------------------------------------------------------------------------
# One connection from Ferry
# ---------------------------------------------------------------------------

# How a request body arrives.
BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF = range(4)


class Connection(asyncio.Protocol):
    """A `session` connection: request heads, bodies and responses in turn (keep-alive), or one
    WebSocket after an upgrade."""

    def __init__(self, server):
        self.server = server
        self.transport = None
        self.buf = b''
        self.cycle = None          # the request in progress (Cycle or WebSocket)
        self.body = BODY_NONE      # how the current request's body arrives
        self.left = 0              # body bytes still to come (BODY_LENGTH)
        self.chunked = None
        self.paused_reading = False
        self.paused_writing = False
        self.drained = None
        self.eof = False
        self.closing = False       # close() was called: nothing more is written
        self.closed = False        # connection_lost() was called
        self.fd = -1

    # --- asyncio.Protocol ---

    def connection_made(self, transport):
        self.transport = transport
        transport.set_write_buffer_limits(WRITE_HIGH)
        self.server.conns.add(self)

    def data_received(self, data):
        cycle = self.cycle
        if cycle is None:
            self.read_head(data)
        elif self.body != BODY_NONE:
            self.read_body(data)
        elif cycle.websocket:
            cycle.feed(data)
        else:
            self.buf += data   # not before this response ends (PROTOCOL.md 2.4)

    def eof_received(self):
        self.eof = True
        cycle = self.cycle
        if cycle is None:
            return False
        if self.body == BODY_EOF:
            self.body = BODY_NONE
            cycle.body_end()
        elif self.body != BODY_NONE:
            self.body = BODY_NONE
            cycle.disconnect()       # the body ended early: the client went away
            return False
        if cycle.websocket or not cycle.had_body:
            cycle.disconnect()
            return False
        # The half-close after a request body (PROTOCOL.md 2.2): the response can still be
        # written; a full close (the client went away) shows as a hang-up.
        self.server.hangups.watch(self)
        return True

    def connection_lost(self, exc):
        self.closed = self.closing = True
        self.server.hangups.unwatch(self)
        if self.cycle is not None:
            self.cycle.disconnect()
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)
        self.server.conns.discard(self)
        self.server.check_stopped()

    def pause_writing(self):
        self.paused_writing = True

    def resume_writing(self):
        self.paused_writing = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    # --- reading ---

    def read_head(self, data):
        buf = self.buf + data if self.buf else data
        if len(buf) < 4:
            self.buf = buf
            return
        size = int.from_bytes(buf[:4], 'big')
        if size > MAX_FRAME:
            log('closing a connection: request head of %d bytes is too large' % size)
            self.close()
            return
        if len(buf) < 4 + size:
            self.buf = buf
            return
        self.buf = b''
        self.server.start_request(self, buf[4:4 + size], buf[4 + size:])

    def read_body(self, data):
        cycle = self.cycle
        kind = self.body
        if kind == BODY_LENGTH:
            left = self.left
            if len(data) >= left:
                if len(data) > left:
                    data = data[:left]   # nothing follows a body but the half-close
                self.left = 0
                self.body = BODY_NONE
                cycle.body_data(data, True)
            else:
                self.left = left - len(data)
                cycle.body_data(data, False)
        elif kind == BODY_CHUNKED:
            try:
                pieces = self.chunked.feed(data)
            except BodyError as e:
                log('closing a connection: %s' % e)
                self.body = BODY_NONE
                cycle.disconnect()
                self.close()
                return
            done = self.chunked.done
            if done:
                self.body = BODY_NONE
            if pieces or done:
                cycle.body_data(pieces[0] if len(pieces) == 1 else b''.join(pieces), done)
        else:
            cycle.body_data(data, False)

    def expect_body(self, kind, length=0):
        self.body = kind
        self.left = length
        self.chunked = Chunked() if kind == BODY_CHUNKED else None

    def pause_reading(self):
        if not self.paused_reading and not self.closed:
            self.paused_reading = True
            self.transport.pause_reading()

    def resume_reading(self):
        if self.paused_reading and not self.closed:
            self.paused_reading = False
            self.transport.resume_reading()

    # --- writing ---

    async def drain(self):
        if self.paused_writing and not self.closed:
            self.drained = self.server.loop.create_future()
            await self.drained

    def write(self, data):
        if not self.closing:
            self.transport.write(data)

    def close(self):
        if not self.closing:
            self.closing = True
            self.server.hangups.unwatch(self)
            self.transport.close()

    def abort(self):
        if not self.closed:
            self.closing = True
            self.server.hangups.unwatch(self)
            self.transport.abort()

    def finished(self, keep):
        """The response in progress is complete; the connection takes the next request when
        `keep`."""
        self.cycle = None
        if not keep or self.eof or self.server.stopping:
            self.close()
        elif self.buf:
            data, self.buf = self.buf, b''
            self.read_head(data)

    def stop(self):
        """Graceful stop: an idle connection closes now, a WebSocket is told the server is going
        away (1012), a request in progress finishes without keep-alive."""
        if self.cycle is None:
            self.close()
        elif self.cycle.websocket:
            self.cycle.going_away()


# ---------------------------------------------------------------------------
# HTTP requests
# ---------------------------------------------------------------------------

MODE_NONE, MODE_LENGTH, MODE_CHUNKED, MODE_RAW = range(4)
CHUNK_END = b'0\r\n\r\n'
ERROR_BODY = b'Internal Server Error\n'
ERROR_RESPONSE = (b'HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n'
                  b'Content-Length: %d\r\nConnection: close\r\n\r\n' % len(ERROR_BODY))
_STATUS_LINES = {}


def status_line(status):
    line = _STATUS_LINES.get(status)
    if line is None:
        if not isinstance(status, int) or not 100 <= status <= 999:
            raise ValueError('invalid status %r in http.response.start' % (status,))
        status = int(status)
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = 'Unknown'
        line = ('HTTP/1.1 %d %s\r\n' % (status, reason)).encode('latin-1')
        _STATUS_LINES[status] = line
    return line


class Cycle(object):
    """One HTTP request: the receive() and send() the app gets."""
    __slots__ = ('conn', 'head_request', 'had_body', 'keep', 'chunks', 'buffered', 'body_done',
                 'body_sent', 'waiter', 'disconnected', 'status', 'headers', 'head_sent',
                 'mode', 'left', 'complete', 'scope')

    websocket = False

    def __init__(self, conn, head_request, had_body, keep):
        self.conn = conn
        self.head_request = head_request
        self.had_body = had_body
        self.keep = keep and not had_body
        self.chunks = []
        self.buffered = 0
        self.body_done = not had_body
        self.body_sent = False
        self.waiter = None
        self.disconnected = False
        self.status = None
        self.headers = None
        self.head_sent = False
        self.mode = MODE_NONE
        self.left = 0
        self.complete = False
        self.scope = None

    # --- from the connection ---

    def body_data(self, data, done):
        if data:
            self.chunks.append(data)
            self.buffered += len(data)
            if self.buffered > BODY_HIGH:
                self.conn.pause_reading()
        if done:
            self.body_done = True
        self._wake()

    def body_end(self):
        self.body_done = True
        self._wake()

    def disconnect(self):
        if not self.disconnected:
            self.disconnected = True
            self._wake()

    def _wake(self):
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- the app's receive() ---

    async def receive(self):
        while True:
            if self.disconnected or self.complete:
                return {'type': 'http.disconnect'}
            if self.chunks:
                chunks = self.chunks
                body = chunks[0] if len(chunks) == 1 else b''.join(chunks)
                self.chunks = []
                self.buffered = 0
                self.conn.resume_reading()
                more = not self.body_done
                self.body_sent = not more
                return {'type': 'http.request', 'body': body, 'more_body': more}
            if self.body_done and not self.body_sent:
                self.body_sent = True
                return {'type': 'http.request', 'body': b'', 'more_body': False}
            self.waiter = self.conn.server.loop.create_future()
            await self.waiter

    # --- the app's send() ---

    async def send(self, message):
        kind = message['type']
        if kind == 'http.response.body':
            if self.status is None:
                raise RuntimeError('http.response.body sent before http.response.start')
            if self.complete:
                raise RuntimeError('http.response.body sent after the response was complete')
            body = message.get('body', b'')
            if type(body) is not bytes:
                body = bytes(body)
            more = message.get('more_body', False)
            if self.disconnected:
                if not more:
                    self.complete = True
                return   # the client has gone: nothing to write (ASGI HTTP 2.3)
            self.write_body(body, more)
            if more and self.conn.paused_writing:
                await self.conn.drain()
        elif kind == 'http.response.start':
            if self.status is not None:
                raise RuntimeError('http.response.start sent twice')
            status = message['status']
            status_line(status)
            self.status = status
            self.headers = message.get('headers', ())
        elif kind == 'http.response.pathsend':
            if self.status is None or self.head_sent:
                raise RuntimeError('http.response.pathsend must follow http.response.start alone')
            await self.send_file(message['path'])
        else:
            raise RuntimeError('unexpected ASGI message %r in the http scope' % (kind,))

    def encode_head(self, known):
        """The response head; picks the body framing. `known`: the body's length, if known."""
        parts = [status_line(self.status)]
        append = parts.append
        length = encoding = None
        close = False
        count = 0
        for name, value in self.headers:
            count += 1
            append(name)
            append(b': ')
            append(value)
            append(b'\r\n')
            if name[:1] in b'cCtT':
                lname = name.lower()
                if lname == b'content-length':
                    length = value
                elif lname == b'transfer-encoding':
                    encoding = value
                elif lname == b'connection' and b'close' in value.lower():
                    close = True
        status = self.status
        if status < 200 or status == 204 or status == 304:
            self.mode = MODE_NONE
        elif self.head_request:
            self.mode = MODE_NONE
            if length is None and known:
                append(b'Content-Length: %d\r\n' % known)
        elif encoding is not None:
            self.mode = MODE_RAW     # the app frames its body itself: pass it, end by closing
            close = True
        elif length is not None:
            self.left = int(length.strip())
            if self.left < 0:
                raise ValueError('negative Content-Length %r' % length)
            self.mode = MODE_LENGTH
        elif known is not None:
            self.mode = MODE_LENGTH
            self.left = known
            append(b'Content-Length: %d\r\n' % known)
        else:
            self.mode = MODE_CHUNKED
            append(b'Transfer-Encoding: chunked\r\n')
        if close:
            self.keep = False
        elif not self.keep or self.conn.server.stopping:
            self.keep = False
            append(b'Connection: close\r\n')
        append(b'\r\n')
        head = b''.join(parts)
        # One line break per line written: none may hide in a name or value.
        lines = len(parts) - 3 * count   # each header is 4 parts and 1 line
        if head.count(b'\n') != lines or head.count(b'\r') != lines:
            raise ValueError('a response header contains a line break: %r' % (self.headers,))
        return head

    def clip(self, data):
        n = len(data)
        left = self.left
        if n > left:
            log('the app sent more body than its Content-Length (%s); the excess is dropped'
                % self.status)
            self.keep = False
            self.left = 0
            return data[:left]
        self.left = left - n
        return data

    def write_body(self, body, more):
        conn = self.conn
        if not self.head_sent:
            head = self.encode_head(None if more else len(body))
            self.head_sent = True
            mode = self.mode
            if mode == MODE_LENGTH:
                conn.write(head + self.clip(body))
            elif mode == MODE_CHUNKED:
                conn.write(head + (b'%x\r\n%s\r\n' % (len(body), body) if body else b''))
            elif mode == MODE_RAW:
                conn.write(head + body)
            else:
                conn.write(head)
        elif body:
            mode = self.mode
            if mode == MODE_CHUNKED:
                conn.write(b'%x\r\n%s\r\n' % (len(body), body))
            elif mode == MODE_LENGTH:
                body = self.clip(body)
                if body:
                    conn.write(body)
            elif mode == MODE_RAW:
                conn.write(body)
        if not more:
            self.finish()

    def finish(self):
        if self.mode == MODE_CHUNKED:
            self.conn.write(CHUNK_END)
        elif self.mode == MODE_LENGTH and self.left:
            log('the app sent %d bytes less than its Content-Length (%s); closing the connection'
                % (self.left, self.status))
            self.keep = False
        self.complete = True
        self._wake()
        if self.conn.cycle is self:
            self.conn.finished(self.keep)

    async def send_file(self, path):
        if self.disconnected:
            self.complete = True
            return
        with open(path, 'rb') as f:
            size = os.fstat(f.fileno()).st_size
            self.write_body_head(size)
            if self.mode not in (MODE_NONE,):
                left = size if self.mode != MODE_LENGTH else min(size, self.left)
                while left > 0 and not self.disconnected:
                    data = f.read(min(FILE_BLOCK, left))
                    if not data:
                        break
                    left -= len(data)
                    if self.mode == MODE_CHUNKED:
                        self.conn.write(b'%x\r\n%s\r\n' % (len(data), data))
                    else:
                        if self.mode == MODE_LENGTH:
                            data = self.clip(data)
                        self.conn.write(data)
                    if self.conn.paused_writing:
                        await self.conn.drain()
        if not self.disconnected:
            self.finish()
        else:
            self.complete = True

    def write_body_head(self, size):
        head = self.encode_head(size)
        self.head_sent = True
        if not self.disconnected:
            self.conn.write(head)

    # --- the app's end ---

    def app_done(self, task):
        conn = self.conn
        server = conn.server
        server.tasks.discard(task)
        if task.cancelled():
            error = None
        else:
            error = task.exception()
        if error is not None:
            if not self.disconnected:
                log('error while handling %s %s:\n%s' % (
                    self.scope['method'], self.scope['path'], format_error(error).rstrip()))
            elif _debug:
                log('error after the client went away: %r' % (error,))
        elif not self.complete and not self.disconnected:
            log('the app returned without completing the response to %s %s'
                % (self.scope['method'], self.scope['path']))
        if not self.complete:
            self.complete = True
            if not self.head_sent and not self.disconnected:
                self.head_sent = True
                conn.write(ERROR_RESPONSE if self.head_request else ERROR_RESPONSE + ERROR_BODY)
                if conn.cycle is self:
                    conn.finished(False)
            elif conn.cycle is self:
                conn.cycle = None
                conn.abort()   # a truncated response: Ferry must not take it as complete
        server.check_stopped()


# ---------------------------------------------------------------------------
# WebSockets (RFC 6455, server side)
# ---------------------------------------------------------------------------

WS_CONNECTING, WS_OPEN, WS_CLOSING, WS_CLOSED = range(4)
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def ws_frame(opcode, payload):
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return struct.pack('!BBH', 0x80 | opcode, 126, n) + payload
    return struct.pack('!BBQ', 0x80 | opcode, 127, n) + payload


def unmask(data, mask):
    n = len(data)
    if not n:
        return b''
    key = (mask * ((n + 3) // 4))[:n]
    return (int.from_bytes(data, 'little') ^ int.from_bytes(key, 'little')).to_bytes(n, 'little')


def close_payload(code, reason=''):
    return struct.pack('!H', code) + reason.encode('utf-8')[:123]


class WebSocket(object):
    """One WebSocket: the handshake through Ferry's upgrade path (the app's `websocket.accept`
    becomes the 101 response; Ferry then relays raw bytes both ways), frames in both directions,
    the close handshake."""

    websocket = True

    def __init__(self, conn, key):
        self.conn = conn
        self.key = key
        self.state = WS_CONNECTING
        self.connect_sent = False
        self.inbox = []            # messages for receive()
        self.waiter = None
        self.buf = b''
        self.fragments = None      # (opcode, [payloads], size) of a fragmented message
        self.close_code = None     # the code receive() reports in websocket.disconnect
        self.close_reason = ''
        self.timer = None
        self.http_response = None  # a Cycle, when the app denies the upgrade with a response
        self.scope = None

    # --- the app's receive() and send() ---

    async def receive(self):
        if not self.connect_sent:
            self.connect_sent = True
            return {'type': 'websocket.connect'}
        while not self.inbox:
            if self.state == WS_CLOSED:
                return self.disconnect_message()
            self.waiter = self.conn.server.loop.create_future()
            await self.waiter
        return self.inbox.pop(0)

    def disconnect_message(self):
        code = self.close_code if self.close_code is not None else 1006
        return {'type': 'websocket.disconnect', 'code': code, 'reason': self.close_reason}

    async def send(self, message):
        kind = message['type']
        state = self.state
        if kind == 'websocket.send':
            if state != WS_OPEN:
                if state == WS_CONNECTING:
                    raise RuntimeError('websocket.send before websocket.accept')
                raise ClientDisconnected(errno.EPIPE, 'the WebSocket is closed')
            data = message.get('bytes')
            if data is not None:
                self.conn.write(ws_frame(OP_BINARY, bytes(data)))
            else:
                self.conn.write(ws_frame(OP_TEXT, (message.get('text') or '').encode('utf-8')))
            if self.conn.paused_writing:
                await self.conn.drain()
        elif kind == 'websocket.accept':
            if state != WS_CONNECTING or self.http_response is not None:
                raise RuntimeError('websocket.accept sent twice, or after a response')
            self.accept(message)
        elif kind == 'websocket.close':
            if state == WS_CONNECTING and self.http_response is None:
                self.deny(403)
            elif state == WS_OPEN:
                code = message.get('code') or 1000
                self.close_code = code
                self.close_reason = message.get('reason') or ''
                self.start_close(code, self.close_reason)
        elif kind == 'websocket.http.response.start':
            if state != WS_CONNECTING or self.http_response is not None:
                raise RuntimeError('websocket.http.response.start after websocket.accept')
            self.http_response = Cycle(self.conn, False, False, False)
            self.http_response.scope = self.scope
            await self.http_response.send(dict(message, type='http.response.start'))
        elif kind == 'websocket.http.response.body':
            if self.http_response is None:
                raise RuntimeError('websocket.http.response.body before its start')
            await self.http_response.send(dict(message, type='http.response.body'))
            if self.http_response.complete:
                self.closed(1006)
        else:
            raise RuntimeError('unexpected ASGI message %r in the websocket scope' % (kind,))

    def accept(self, message):
        accept = base64.b64encode(hashlib.sha1(self.key + WS_GUID).digest())
        parts = [b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                 b'Sec-WebSocket-Accept: ', accept, b'\r\n']
        subprotocol = message.get('subprotocol')
        if subprotocol:
            parts.append(b'Sec-WebSocket-Protocol: %s\r\n' % subprotocol.encode('latin-1'))
        for name, value in message.get('headers') or ():
            if b'\n' in name or b'\n' in value or b'\r' in name or b'\r' in value:
                raise ValueError('a websocket.accept header contains a line break')
            parts.append(name + b': ' + value + b'\r\n')
        parts.append(b'\r\n')
        self.state = WS_OPEN
        self.conn.write(b''.join(parts))
        if self.buf:
            self.feed(b'')   # frames that came before the 101 went out

    def deny(self, status):
        """Refuses the upgrade with an HTTP response (the connection then closes)."""
        body = http.HTTPStatus(status).phrase.encode() + b'\n'
        self.conn.write(status_line(status) + b'Content-Type: text/plain\r\nContent-Length: %d\r\n'
                        b'Connection: close\r\n\r\n%s' % (len(body), body))
        self.close_code = 1006 if self.close_code is None else self.close_code
        self.closed(self.close_code)

    def start_close(self, code, reason):
        self.state = WS_CLOSING
        self.conn.write(ws_frame(OP_CLOSE, close_payload(code, reason)))
        self.timer = self.conn.server.loop.call_later(WS_CLOSE_WAIT, self.conn.close)

    def going_away(self):
        if self.state == WS_OPEN:
            self.close_code = 1012
            self.start_close(1012, 'server restart')

    # --- from the connection ---

    def feed(self, data):
        buf = self.buf + data if self.buf else data
        pos = 0
        end = len(buf)
        while self.state in (WS_OPEN, WS_CLOSING) and end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            size = b1 & 0x7f
            head = 2
            if size == 126:
                if end - pos < 4:
                    break
                size = int.from_bytes(buf[pos + 2:pos + 4], 'big')
                head = 4
            elif size == 127:
                if end - pos < 10:
                    break
                size = int.from_bytes(buf[pos + 2:pos + 10], 'big')
                head = 10
            if not b1 & 0x80:
                return self.fail(1002, 'client frames must be masked')
            if b0 & 0x70:
                return self.fail(1002, 'reserved bits set')
            if size > WS_MAX_MESSAGE:
                return self.fail(1009, 'message too big')
            if end - pos < head + 4 + size:
                break
            mask = buf[pos + head:pos + head + 4]
            start = pos + head + 4
            payload = unmask(buf[start:start + size], mask)
            pos = start + size
            self.frame(b0 & 0x80, b0 & 0x0f, payload)
        self.buf = buf[pos:] if pos < end else b''

    def frame(self, fin, opcode, payload):
        if opcode >= 8:
            if not fin or len(payload) > 125:
                return self.fail(1002, 'bad control frame')
            if opcode == OP_CLOSE:
                return self.client_closed(payload)
            if opcode == OP_PING:
                if self.state == WS_OPEN:
                    self.conn.write(ws_frame(OP_PONG, payload))
                return None
            if opcode == OP_PONG:
                return None
            return self.fail(1002, 'unknown opcode')
        if self.state != WS_OPEN:
            return None   # data after our close frame is dropped
        if opcode == OP_CONT:
            if self.fragments is None:
                return self.fail(1002, 'continuation without a message')
            first, parts, size = self.fragments
            size += len(payload)
            if size > WS_MAX_MESSAGE:
                return self.fail(1009, 'message too big')
            parts.append(payload)
            self.fragments = (first, parts, size)
            if not fin:
                return None
            self.fragments = None
            return self.message(first, b''.join(parts))
        if opcode not in (OP_TEXT, OP_BINARY) or self.fragments is not None:
            return self.fail(1002, 'unexpected opcode')
        if not fin:
            self.fragments = (opcode, [payload], len(payload))
            return None
        return self.message(opcode, payload)

    def message(self, opcode, payload):
        if opcode == OP_TEXT:
            try:
                text = payload.decode('utf-8')
            except UnicodeDecodeError:
                return self.fail(1007, 'invalid UTF-8 in a text message')
            self.inbox.append({'type': 'websocket.receive', 'text': text})
        else:
            self.inbox.append({'type': 'websocket.receive', 'bytes': payload})
        self._wake()
        return None

    def client_closed(self, payload):
        code, reason = 1005, ''
        if len(payload) >= 2:
            code = struct.unpack('!H', payload[:2])[0]
            try:
                reason = payload[2:].decode('utf-8')
            except UnicodeDecodeError:
                reason = ''
        if self.state == WS_OPEN:
            self.conn.write(ws_frame(OP_CLOSE, payload[:2] if len(payload) >= 2 else b''))
            self.close_code = code
            self.close_reason = reason
        self.closed(self.close_code if self.close_code is not None else code)
        return None

    def fail(self, code, reason):
        if _debug:
            log('closing a WebSocket: %s' % reason)
        if self.state == WS_OPEN:
            self.conn.write(ws_frame(OP_CLOSE, close_payload(code, reason)))
        self.close_code = code
        self.closed(code)
        return None

    def closed(self, code):
        """The WebSocket is over: receive() reports websocket.disconnect, the connection closes."""
        if self.state == WS_CLOSED:
            return
        self.state = WS_CLOSED
        if self.close_code is None:
            self.close_code = code
        if self.timer is not None:
            self.timer.cancel()
        self._wake()
        self.conn.close()

    def disconnect(self):
        self.closed(1006)

    def _wake(self):
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def app_done(self, task):
        server = self.conn.server
        server.tasks.discard(task)
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, ClientDisconnected):
            log('error in the WebSocket %s:\n%s' % (self.scope['path'], format_error(error).rstrip()))
        if self.state == WS_CONNECTING and self.http_response is None:
            self.deny(500 if error is not None else 403)
        elif self.state == WS_OPEN:
            self.close_code = 1011 if error is not None else 1000
            self.start_close(self.close_code, '')
        elif self.http_response is not None and not self.http_response.complete:
            self.conn.abort()
        server.check_stopped()


# ---------------------------------------------------------------------------
# Hang-ups
# ---------------------------------------------------------------------------

class Hangups(object):
    """Notices when Ferry closes a connection it has already half-closed (after a request body):
    end-of-file does not tell, but the kernel reports EPOLLHUP once both directions are shut.
    One epoll set, itself watched by the event loop, holds those connections."""

    def __init__(self, loop):
        self.loop = loop
        self.epoll = None
        self.conns = {}

    def watch(self, conn):
        if self.epoll is None:
            self.epoll = select.epoll()
            self.loop.add_reader(self.epoll.fileno(), self.ready)
        try:
            fd = conn.transport.get_extra_info('socket').fileno()
            self.epoll.register(fd, 0)   # EPOLLHUP and EPOLLERR are always reported
        except (OSError, AttributeError, ValueError):
            return
        conn.fd = fd
        self.conns[fd] = conn

    def unwatch(self, conn):
        fd = conn.fd
        if fd >= 0 and self.conns.get(fd) is conn:
            del self.conns[fd]
            try:
                self.epoll.unregister(fd)
            except OSError:
                pass
        conn.fd = -1

    def ready(self):
        for fd, _ in self.epoll.poll(0):
            conn = self.conns.get(fd)
            if conn is None:
                continue
            self.unwatch(conn)
            if conn.cycle is not None:
                conn.cycle.disconnect()
            conn.abort()

    def close(self):
        if self.epoll is not None:
            self.loop.remove_reader(self.epoll.fileno())
            self.epoll.close()
            self.epoll = None


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

def new_event_loop():
    """uvloop's loop when it is installed, else asyncio's."""
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


def start_task(loop, coro):
    return loop.create_task(coro)


if sys.version_info >= (3, 12):
    def start_task(loop, coro):   # noqa: F811
        # An eager task runs the app at once, up to its first real wait: a request answered
        # without waiting costs no trip through the event loop.
        return asyncio.Task(coro, loop=loop, eager_start=True)


class Server(object):
    def __init__(self, app, args, listener, path, loop, state):
        self.app = app
        password = args.get('connect_password')
        self.password = password.encode('latin-1') if password else None
        self.keepalive = W.opt_bool(args, 'keepalive', True)
        self.listener = listener
        self.path = path
        self.loop = loop
        self.state = state
        self.conns = set()
        self.tasks = set()
        self.hangups = Hangups(loop)
        self.stopping = False
        self.stopped = None
        self.aserver = None

    async def start(self):
        self.stopped = self.loop.create_future()
        self.aserver = await self.loop.create_unix_server(
            lambda: Connection(self), sock=self.listener, backlog=1024)
        self.loop.add_reader(0, self.stdin_ready)

    def stdin_ready(self):
        try:
            data = os.read(0, 4096)
        except OSError:
            data = b''
        if not data:
            self.loop.remove_reader(0)
            self.stop()

    def stop(self):
        """Graceful stop: no new connections, requests in progress finish."""
        if self.stopping:
            return
        self.stopping = True
        self.aserver.close()
        self.unlink()
        for conn in list(self.conns):
            conn.stop()
        self.check_stopped()

    def check_stopped(self):
        if self.stopping and not self.conns and not self.tasks and not self.stopped.done():
            self.stopped.set_result(None)

    def unlink(self):
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def cleanup(self):
        self.hangups.close()
        try:
            self.listener.close()
        except OSError:
            pass
        self.unlink()

    # --- one request ---

    def start_request(self, conn, payload, rest):
        it = iter(payload.split(b'\0'))
        env = dict(zip(it, it))
        method = env.get(b'REQUEST_METHOD', b'')
        if method == b'PING' or method == b'ping':
            conn.write(b'pong')
            conn.close()
            return
        password = env.pop(b'PASSENGER_CONNECT_PASSWORD', None)
        if self.password is not None:
            if password is None or not compare_digest(password, self.password):
                log('refused a request without the right connect password')
                conn.close()
                return
        if method == b'OOBW':
            conn.write(b'oobw done')   # out-of-band work: Python apps register none
            conn.close()
            return
        if method == b'PROMOTE':
            # Re-forking (PROTOCOL.md section 6.4) is not offered for ASGI apps: a process with a
            # running event loop is no template to fork from. Ferry keeps forking from the
            # preloader.
            log('re-forking is not supported for ASGI apps; this process stays a worker')
            conn.write(b'{"result":"error","message":"re-forking is not supported for ASGI apps"}\n')
            conn.close()
            return
        upgrade = env.get(b'HTTP_UPGRADE')
        if upgrade is not None and upgrade.lower() == b'websocket':
            return self.start_websocket(conn, env, method)
        length = env.get(b'CONTENT_LENGTH')
        if length is not None:
            try:
                n = int(length)
                if n < 0:
                    raise ValueError(length)
            except ValueError:
                log('refused a request with CONTENT_LENGTH %r' % length)
                conn.close()
                return
            cycle = Cycle(conn, method == b'HEAD', True, self.keepalive)
            conn.expect_body(BODY_LENGTH, n)
            if not n:
                conn.body = BODY_NONE
                cycle.body_done = True
        elif b'HTTP_TRANSFER_ENCODING' in env:
            cycle = Cycle(conn, method == b'HEAD', True, self.keepalive)
            chunked = env[b'HTTP_TRANSFER_ENCODING'].strip().lower() == b'chunked'
            conn.expect_body(BODY_CHUNKED if chunked else BODY_EOF)
        else:
            cycle = Cycle(conn, method == b'HEAD', False, self.keepalive)
        scope = self.http_scope(env, method)
        cycle.scope = scope
        conn.cycle = cycle
        if rest:
            conn.data_received(rest)   # body bytes that came with the head
        task = self.run_app(scope, cycle)
        if task is None:
            cycle.complete = cycle.head_sent = True
            conn.write(ERROR_RESPONSE + ERROR_BODY)
            conn.finished(False)

    def http_scope(self, env, method):
        headers = []
        append = headers.append
        for key, value in env.items():
            name = _NAMES.get(key)
            if name is None:
                name = header_name(key)
            if name:
                append((name, value))
        script = env.get(b'SCRIPT_NAME', b'')
        raw_path = script + env.get(b'PATH_INFO', b'/')
        path = raw_path.decode('latin-1')
        if '%' in path:
            path = unquote(raw_path)
        https = env.get(b'HTTPS')
        return {
            'type': 'http',
            'asgi': {'version': '3.0', 'spec_version': ASGI_HTTP},
            'http_version': {b'HTTP/1.0': '1.0', b'HTTP/2.0': '2'}.get(env.get(b'SERVER_PROTOCOL'), '1.1'),
            'server': address(env.get(b'SERVER_NAME'), env.get(b'SERVER_PORT')),
            'client': address(env.get(b'REMOTE_ADDR'), env.get(b'REMOTE_PORT')),
            'scheme': 'https' if https is not None and https.lower() in (b'on', b'1', b'yes', b'true') else 'http',
            'method': method.decode('latin-1'),
            'root_path': script.decode('latin-1'),
            'path': path,
            'raw_path': raw_path,
            'query_string': env.get(b'QUERY_STRING', b''),
            'headers': headers,
            'state': self.state.copy(),
            'extensions': {'http.response.pathsend': {}},
        }

    def run_app(self, scope, cycle):
        """Starts the app's task for one scope; None (logged) when the app cannot be called."""
        try:
            task = start_task(self.loop, self.app(scope, cycle.receive, cycle.send))
        except Exception:
            log('the app could not be called for %s %s (is it an ASGI 3 app?):\n%s' % (
                scope.get('method', 'WEBSOCKET'), scope['path'], traceback.format_exc().rstrip()))
            return None
        self.tasks.add(task)
        task.add_done_callback(cycle.app_done)
        return task

    def start_websocket(self, conn, env, method):
        scope = self.http_scope(env, method)
        scope['type'] = 'websocket'
        scope['asgi'] = {'version': '3.0', 'spec_version': ASGI_WEBSOCKET}
        scope['scheme'] = 'wss' if scope['scheme'] == 'https' else 'ws'
        del scope['method']
        protocols = env.get(b'HTTP_SEC_WEBSOCKET_PROTOCOL', b'').decode('latin-1')
        scope['subprotocols'] = [p.strip() for p in protocols.split(',') if p.strip()]
        scope['extensions'] = {'websocket.http.response': {}}
        key = env.get(b'HTTP_SEC_WEBSOCKET_KEY')
        ws = WebSocket(conn, key)
        ws.scope = scope
        conn.cycle = ws
        if method != b'GET' or not key or env.get(b'HTTP_SEC_WEBSOCKET_VERSION') != b'13':
            ws.deny(400)
            return
        if self.run_app(scope, ws) is None:
            ws.deny(500)


def address(host, port):
    if host is None:
        return None
    try:
        return (host.decode('latin-1'), int(port or 0))
    except ValueError:
        return (host.decode('latin-1'), 0)


def unquote(raw):
    from urllib.parse import unquote_to_bytes
    return unquote_to_bytes(raw).decode('utf-8', 'replace')


def await_chain(coro):
    """Where a coroutine is suspended: its frame, then the frames of what it awaits, down."""
    frames = []
    while coro is not None and len(frames) < 100:
        frame = getattr(coro, 'cr_frame', None) or getattr(coro, 'gi_frame', None)
        if frame is not None:
            frames.append((frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name, None))
        coro = getattr(coro, 'cr_await', None) or getattr(coro, 'gi_yieldfrom', None)
    return traceback.StackSummary.from_list(frames)


def install_sigquit(loop):
    """SIGQUIT: the threads' stacks (faulthandler, from the C handler, so even a blocked loop
    answers) and then, when the loop runs, every task's stack."""
    def dump_tasks():
        try:
            tasks = asyncio.all_tasks(loop)
            out = sys.stderr
            out.write('Asyncio tasks (SIGQUIT): %d\n' % len(tasks))
            for task in tasks:
                out.write('\n# %r (outermost call first):\n' % (task,))
                out.write(''.join(traceback.format_list(await_chain(task.get_coro()))))
            out.flush()
        except Exception:
            pass

    try:
        import faulthandler
        faulthandler.unregister(signal.SIGQUIT)
        loop.add_signal_handler(signal.SIGQUIT, dump_tasks)
        faulthandler.register(signal.SIGQUIT, file=sys.stderr, all_threads=True, chain=True)
    except Exception:
        W.install_sigquit()


# ---------------------------------------------------------------------------
# Start-up
# ---------------------------------------------------------------------------

def run_listen_step(wd, fn):
    step = W.STEPS[3]
    wd.step_begin(step)
    try:
        result = fn()
    except StartupFailed as e:
        report_startup_failure(wd, step, e)
    except BaseException:
        W.fail_step(wd, step, sys.exc_info())
    wd.step_end(step, True)
    return result


def serve_app(wsgi_loader, wd, args, app_root, app):
    """Serves the loaded ASGI `app` (after the handshake's first three steps): as a preloader
    that forks workers, or as a worker. Returns the exit status."""
    global _debug
    bind(wsgi_loader)
    _debug = W.opt_int(args, 'log_level', 3) >= 5
    if W.opt_bool(args, 'preloader', False):
        listener, sock_path = W.run_step(wd, W.STEPS[3], lambda: W.preloader_listen(args))
        if not W.report_up(wd.path, {'sockets': [{'name': 'preloader', 'address': 'unix:' + sock_path,
                                                  'protocol': 'preloader', 'concurrency': 1}]}):
            return 1
        worker_dir = W.serve_preloader(listener, sock_path)
        if worker_dir is None:
            return 0
        wd = W.WorkDir(worker_dir)

        def after_fork():
            worker_args = wd.read_args()
            title = worker_args.get('process_title') or 'Ferry PythonApp'
            W.set_process_title('%s: %s' % (title, worker_args.get('app_group_name') or app_root))
            random.seed()   # os.register_at_fork hooks (the app's too) already ran in os.fork()
            return worker_args

        args = W.run_step(wd, W.AFTER_FORK, after_fork)
    return serve_worker(wd, args, app)


def serve_worker(wd, args, app):
    loop = new_event_loop()
    lifespan = Lifespan(app, loop)
    concurrency = W.opt_int(args, 'asgi_concurrency', DEFAULT_CONCURRENCY)
    if concurrency < 0:
        concurrency = DEFAULT_CONCURRENCY

    def listen():
        # The app's lifespan startup comes first: the process is up only once it completed.
        loop.run_until_complete(lifespan.startup())
        socket_dir = args.get('socket_dir') or __import__('tempfile').gettempdir()
        listener, sock_path = W.open_listener(socket_dir, 'asgi', blocking=False)
        server = Server(app, args, listener, sock_path, loop, lifespan.state)
        try:
            loop.run_until_complete(server.start())
            props = {'sockets': [{'name': 'main', 'address': 'unix:' + sock_path,
                                  'protocol': 'session', 'concurrency': concurrency,
                                  'accept_http_requests': True}]}
            with open(os.path.join(wd.path, 'response', 'properties.json'), 'w') as f:
                __import__('json').dump(props, f)
            W.install_sigterm(server)
            install_sigquit(loop)
        except BaseException:
            server.cleanup()
            raise
        return server

    server = run_listen_step(wd, listen)
    try:
        with open(os.path.join(wd.path, 'response', 'finish'), 'w') as f:
            f.write('1')
    except OSError as e:
        log('cannot write the finish file: %s' % e)
        server.cleanup()
        return 1
    try:
        loop.run_until_complete(server.stopped)
        loop.run_until_complete(lifespan.shutdown())
    finally:
        server.cleanup()
    return 0


def main():
    started = time.monotonic()
    path = os.environ.get('PASSENGER_SPAWN_WORK_DIR')
    if not path:
        sys.stderr.write('asgi-loader.py: PASSENGER_SPAWN_WORK_DIR is not set; '
                         'this program is started by Ferry\n')
        return 1
    # Python put this script's directory first on sys.path; it must not shadow the app's modules.
    if sys.path and sys.path[0] and os.path.abspath(sys.path[0]) == HERE:
        del sys.path[0]
    bind()
    wd = W.WorkDir(path)
    step = W.STEPS[0]
    if not wd.begin_known(step):
        wd.step_begin(step, started)
    wd.step_end(step, True, started)

    def prepare():
        args = wd.read_args()
        app_root = os.path.abspath(args.get('app_root') or os.getcwd())
        if app_root not in sys.path:
            sys.path.insert(0, app_root)
        title = args.get('process_title') or 'Ferry PythonApp'
        W.set_process_title('%s: %s' % (title, args.get('app_group_name') or app_root))
        W.install_sigquit()
        return args, app_root

    args, app_root = W.run_step(wd, W.STEPS[1], prepare)
    W._debug = W.opt_int(args, 'log_level', 3) >= 5
    app = W.run_step(wd, W.STEPS[2], lambda: load_app(app_root, args))
    return serve_app(W, wd, args, app_root, app)


if __name__ == '__main__':
    sys.exit(main())
