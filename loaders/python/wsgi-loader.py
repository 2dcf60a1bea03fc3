#!/usr/bin/env python3
# wsgi-loader.py: Ferry's loader ("wrapper") for Python WSGI apps.
#
# Ferry runs `python3 wsgi-loader.py` with the app root as working directory,
# PASSENGER_SPAWN_WORK_DIR pointing at the spawn's work directory and stdin a
# pipe whose end-of-file means "stop". The loader loads the app's startup file
# (passenger_wsgi.py) and takes its `application`, listens on a unix socket,
# reports it through the work directory (SpawningKit handshake) and then serves
# requests in the `session` protocol. The contract is loaders/PROTOCOL.md.
#
# Standard library only; runs on Python 3.8 and later.

import errno
import json
import os
import random
import select
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from hmac import compare_digest

MAX_FRAME = 1 << 20        # request heads are at most 1 MiB (PROTOCOL.md 2.1)
RECV_SIZE = 1 << 16        # usual recv() size
MAX_RECV = 1 << 18         # never ask recv() for more than this at once
MAX_LINE = 1 << 16         # chunk-size and trailer lines
SMALL_BODY = 1 << 13       # below this, head and body are joined before sending
SMALL_FILE = 1 << 14       # below this, wsgi.file_wrapper files are read, not sendfile()d
DRAIN_LIMIT = 1 << 20      # unread request body discarded without blocking before a close

STEPS = ('subprocess_exec_wrapper', 'subprocess_wrapper_preparation',
         'subprocess_app_load_or_exec', 'subprocess_listen')

_debug = False


def log(message):
    """Writes one diagnostic line to stderr (Ferry logs it as app output)."""
    try:
        err = sys.stderr
        err.write('[ferry-wsgi pid=%d] %s\n' % (os.getpid(), message))
        err.flush()
    except Exception:
        pass


# ---------------------------------------------------------------------------
# Work directory (SpawningKit handshake)
# ---------------------------------------------------------------------------

class WorkDir(object):
    def __init__(self, path):
        self.path = path

    def write(self, rel, text):
        try:
            with open(os.path.join(self.path, rel), 'w') as f:
                f.write(text)
        except OSError:
            pass

    def read_args(self):
        try:
            with open(os.path.join(self.path, 'args.json')) as f:
                args = json.load(f)
            if isinstance(args, dict):
                return args
        except (OSError, ValueError):
            pass
        # Fall back on the one-file-per-key copies.
        args = {}
        d = os.path.join(self.path, 'args')
        for name in os.listdir(d):
            with open(os.path.join(d, name)) as f:
                text = f.read()
            if name.endswith('.json'):
                args[name[:-5]] = json.loads(text)
            else:
                args[name] = text
        return args

    def _step(self, step, name, value):
        self.write('response/steps/%s/%s' % (step, name), value)

    def step_begin(self, step, when=None):
        self._step(step, 'begin_time_monotonic', '%.6f' % (time.monotonic() if when is None else when))
        self._step(step, 'state', 'STEP_IN_PROGRESS')

    def step_end(self, step, ok, when=None):
        self._step(step, 'end_time_monotonic', '%.6f' % (time.monotonic() if when is None else when))
        self._step(step, 'state', 'STEP_PERFORMED' if ok else 'STEP_ERRORED')

    def begin_known(self, step):
        base = os.path.join(self.path, 'response', 'steps', step)
        return (os.path.exists(os.path.join(base, 'begin_time_monotonic'))
                or os.path.exists(os.path.join(base, 'begin_time')))


class LoadError(Exception):
    """An error with its own wording for the spawn error report."""

    def __init__(self, summary, problem=None, solution=None):
        Exception.__init__(self, summary)
        self.summary = summary
        self.problem = problem
        self.solution = solution


def error_category(e):
    if isinstance(e, OSError):
        return 'OPERATING_SYSTEM_ERROR' if e.errno is not None else 'IO_ERROR'
    return 'INTERNAL_ERROR'


def format_app_traceback(etype, e, tb):
    """The traceback without the loader's and importlib's own frames, when the app has some."""
    try:
        te = traceback.TracebackException(etype, e, tb)
        here = os.path.abspath(__file__)
        frames = [f for f in te.stack
                  if f.filename != here and not f.filename.startswith('<frozen importlib')]
        if frames or isinstance(e, SyntaxError):
            te.stack = traceback.StackSummary.from_list(frames)
        return ''.join(te.format())
    except Exception:
        return ''.join(traceback.format_exception(etype, e, tb))


def fail_step(wd, step, exc_info):
    """Reports a start-up failure (PROTOCOL.md 1.4) and exits without writing `finish`."""
    etype, e, tb = exc_info
    wd.step_end(step, False)
    details = format_app_traceback(etype, e, tb)
    if isinstance(e, LoadError):
        summary = e.summary
        if e.problem:
            wd.write('response/error/problem_description.txt', e.problem + '\n')
        if e.solution:
            wd.write('response/error/solution_description.txt', e.solution + '\n')
    else:
        if isinstance(e, SystemExit):
            message = 'sys.exit(%r) was called' % (e.code,)
        else:
            message = ' '.join(str(e).split()) or etype.__name__
        summary = 'The application encountered the following error: %s (%s)' % (message, etype.__name__)
    wd.write('response/error/category', error_category(e))
    wd.write('response/error/summary', summary)
    wd.write('response/error/advanced_problem_details', details)
    wd.write('envdump/annotations/python_info',
             'Python version: %s\nExecutable: %s\n' % (sys.version.replace('\n', ' '), sys.executable))
    wd.write('envdump/annotations/python_path', '\n'.join(str(p) for p in sys.path) + '\n')
    try:
        sys.stderr.write('Error: %s\n%s' % (summary, details))
        sys.stderr.flush()
        sys.stdout.flush()
    except Exception:
        pass
    # os._exit: threads the half-loaded app may have started must not keep us alive.
    os._exit(1)


def run_step(wd, step, fn):
    wd.step_begin(step)
    try:
        result = fn()
    except BaseException:
        fail_step(wd, step, sys.exc_info())
    wd.step_end(step, True)
    return result


# ---------------------------------------------------------------------------
# Start-up helpers
# ---------------------------------------------------------------------------

def opt_int(args, key, default):
    try:
        return int(args.get(key, default))
    except (TypeError, ValueError):
        return default


def opt_bool(args, key, default):
    value = args.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() not in ('false', '0', 'no', 'off', '')
    return bool(value)


def set_process_title(title):
    # With the third-party `setproctitle` module, `ps` shows the whole title.
    # Without it the standard library cannot rewrite the command line, so only
    # the kernel's task name is set (what `ps -o comm`, `top` and
    # /proc/PID/comm show), and the kernel keeps only its first 15 bytes.
    try:
        import setproctitle
        setproctitle.setproctitle(title)
        return
    except Exception:
        pass
    if not sys.platform.startswith('linux'):
        return
    name = title.encode('utf-8', 'replace')[:15]
    try:
        with open('/proc/self/comm', 'wb') as f:   # the main thread's name
            f.write(name)
        return
    except OSError:
        pass
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.prctl(15, ctypes.c_char_p(name), 0, 0, 0)   # PR_SET_NAME
    except Exception:
        pass


def dump_threads(signum=None, frame=None):
    """Fallback SIGQUIT handler when faulthandler is unusable."""
    names = dict((t.ident, t.name) for t in threading.enumerate())
    out = ['Thread stacks (SIGQUIT):']
    for ident, stack in sys._current_frames().items():
        out.append('\n# Thread %s (%d)' % (names.get(ident, '?'), ident))
        out.append(''.join(traceback.format_stack(stack)).rstrip())
    try:
        sys.stderr.write('\n'.join(out) + '\n')
        sys.stderr.flush()
    except Exception:
        pass


def install_sigquit():
    try:
        import faulthandler
        # Dumps from the C signal handler: works even when Python code is stuck.
        faulthandler.register(signal.SIGQUIT, file=sys.stderr, all_threads=True, chain=False)
    except Exception:
        try:
            signal.signal(signal.SIGQUIT, dump_threads)
        except Exception:
            pass


def load_app(app_root, startup_file):
    import importlib.machinery
    import importlib.util
    # An explicit SourceFileLoader also accepts startup files not named *.py.
    loader = importlib.machinery.SourceFileLoader('passenger_wsgi', startup_file)
    spec = importlib.util.spec_from_file_location('passenger_wsgi', startup_file, loader=loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules['passenger_wsgi'] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop('passenger_wsgi', None)
        raise
    app = getattr(module, 'application', None)
    if app is None and is_asgi_app(getattr(module, 'app', None)):
        app = module.app   # FastAPI's and Starlette's name; asgi-loader.py serves it
    if app is None:
        raise LoadError(
            'The startup file %s does not define `application`: it must define the WSGI '
            'callable `application`' % startup_file,
            problem='Ferry loaded the startup file %s, but it does not define a variable '
                    'named `application`.' % startup_file,
            solution='Make %s define the WSGI callable as `application`, for example '
                     '`from myapp import app as application`.' % startup_file)
    if not callable(app):
        raise LoadError(
            'The startup file %s defines `application`, but it is not callable (it is a %s); '
            'it must be the WSGI callable' % (startup_file, type(app).__name__))
    return app


CO_COROUTINE = 0x80


def is_asgi_app(app):
    """Whether `app` is an ASGI 3 callable: a coroutine function, or an object whose __call__
    is one (FastAPI, Starlette, Django's ASGIHandler). Checked without importing inspect or
    asyncio, which a WSGI app need not pay for."""
    if app is None or isinstance(app, type):
        return False
    for fn in (app, getattr(type(app), '__call__', None)):
        while hasattr(fn, 'func') and hasattr(fn, 'args'):   # functools.partial
            fn = fn.func
        fn = getattr(fn, '__func__', fn)                      # bound methods
        code = getattr(fn, '__code__', None)
        if code is not None and code.co_flags & CO_COROUTINE:
            return True
        if getattr(fn, '_is_coroutine_marker', None) is not None:   # inspect.markcoroutinefunction
            return True
    return False


def serve_asgi(args, wd, app_root, app):
    """Hands an ASGI app found in the startup file over to asgi-loader.py (beside this file)."""
    import importlib.machinery
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'asgi-loader.py')
    loader = importlib.machinery.SourceFileLoader('_ferry_asgi_loader', path)
    spec = importlib.util.spec_from_file_location('_ferry_asgi_loader', path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True   # no __pycache__ in the loaders' directory
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module.serve_app(sys.modules[__name__], wd, args, app_root, app)


def open_listener(socket_dir, prefix='wsgi', blocking=True):
    """A unix socket with a fresh random name in `socket_dir`, mode 0600, listening; blocking
    (whatever socket.setdefaulttimeout() the app chose) unless an event loop serves it."""
    for _ in range(128):
        path = os.path.join(socket_dir, prefix + '.' + os.urandom(8).hex())
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                continue
            raise
        try:
            os.chmod(path, 0o600)
            sock.settimeout(None if blocking else 0.0)
            sock.listen(1024)
        except BaseException:
            sock.close()
            os.unlink(path)
            raise
        return sock, path
    raise OSError(errno.EADDRINUSE, 'no free socket name in %s' % socket_dir)


# ---------------------------------------------------------------------------
# Connections and request bodies
# ---------------------------------------------------------------------------

class ClientGone(OSError):
    """Writing to Ferry failed: the connection is gone."""


class BodyError(OSError):
    """The request body is malformed or ended early."""


class ClientDisconnected(BodyError):
    """The request body ended before its end: the client went away in the middle of its upload
    (Ferry resets the connection then), never to be mistaken for a complete body."""


class ProtocolError(Exception):
    pass


class Conn(object):
    """A session connection with its receive buffer (self.buf[self.pos:])."""
    __slots__ = ('sock', 'fd', 'buf', 'pos', 'poller', 'watching_listener')

    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.buf = b''
        self.pos = 0
        self.poller = None
        self.watching_listener = False

    def _fill(self, need):
        buf = self.buf
        if self.pos:
            buf = buf[self.pos:]
            self.pos = 0
        have = len(buf)
        parts = [buf] if have else []
        recv = self.sock.recv
        while have < need:
            data = recv(max(RECV_SIZE, need - have))
            if not data:
                break
            parts.append(data)
            have += len(data)
        if len(parts) == 1:
            self.buf = parts[0]
        else:
            self.buf = b''.join(parts)
        return have >= need

    def read_frame(self):
        """The next request head's payload, or None at end of file."""
        if len(self.buf) - self.pos < 4 and not self._fill(4):
            return None
        pos = self.pos
        size = int.from_bytes(self.buf[pos:pos + 4], 'big')
        if size > MAX_FRAME:
            raise ProtocolError('request head of %d bytes is too large' % size)
        if len(self.buf) - pos < 4 + size:
            if not self._fill(4 + size):
                return None
            pos = 0
        buf = self.buf
        end = pos + 4 + size
        payload = buf[pos + 4:end]
        if end == len(buf):
            self.buf = b''
            self.pos = 0
        else:
            self.pos = end
        return payload

    def read_some(self, n):
        """Up to n bytes (n > 0): buffered ones, else one recv(); b'' at EOF."""
        pos = self.pos
        avail = len(self.buf) - pos
        if avail:
            if n >= avail:
                data = self.buf[pos:] if pos else self.buf
                self.buf = b''
                self.pos = 0
                return data
            self.pos = pos + n
            return self.buf[pos:pos + n]
        return self.sock.recv(n if n < MAX_RECV else MAX_RECV)

    def read_upto(self, n):
        """n bytes, fewer only at end of file."""
        data = self.read_some(n)
        got = len(data)
        if got == n or not got:
            return data
        parts = [data]
        recv = self.sock.recv
        while got < n:
            want = n - got
            data = recv(want if want < MAX_RECV else MAX_RECV)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b''.join(parts)

    def readinto_some(self, mv):
        pos = self.pos
        avail = len(self.buf) - pos
        if avail:
            n = len(mv)
            if n > avail:
                n = avail
            mv[:n] = memoryview(self.buf)[pos:pos + n]
            if n == avail:
                self.buf = b''
                self.pos = 0
            else:
                self.pos = pos + n
            return n
        return self.sock.recv_into(mv)

    def readline(self, limit):
        """Up to and including b'\\n', at most `limit` bytes; shorter at EOF."""
        parts = []
        got = 0
        while got < limit:
            buf = self.buf
            pos = self.pos
            avail = len(buf) - pos
            if not avail:
                buf = self.sock.recv(RECV_SIZE)
                if not buf:
                    break
                self.buf = buf
                pos = 0
                avail = len(buf)
            want = limit - got
            end = pos + (avail if avail < want else want)
            i = buf.find(b'\n', pos, end)
            if i >= 0:
                end = i + 1
            parts.append(buf[pos:end])
            got += end - pos
            if end == len(buf):
                self.buf = b''
                self.pos = 0
            else:
                self.pos = end
            if i >= 0:
                break
        if len(parts) == 1:
            return parts[0]
        return b''.join(parts)

    def drain(self):
        """Discards request body bytes that have already arrived, without blocking."""
        self.buf = b''
        self.pos = 0
        total = 0
        try:
            while total < DRAIN_LIMIT:
                data = self.sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
                if not data:
                    break
                total += len(data)
        except OSError:
            pass

    def close(self):
        sock = self.sock
        if sock is None:
            return   # handed over (PROMOTE): the main thread answers on it
        try:
            # Also ends the stream for Ferry when a forked child still holds the fd.
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        sock.close()


class InputBase(object):
    __slots__ = ()

    def readlines(self, hint=-1):
        lines = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                break
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line


class LengthInput(InputBase):
    """wsgi.input for a body of known length, which raises ClientDisconnected when the
    connection ends first (or, with until_eof, a body that ends where the connection does)."""
    __slots__ = ('_conn', '_left', '_length', '_until_eof')

    def __init__(self, conn, length, until_eof=False):
        self._conn = conn
        self._left = length
        self._length = length
        self._until_eof = until_eof

    def _cut(self, left):
        """The connection ended with `left` bytes of the body still to come."""
        self._left = 0
        if not self._until_eof:
            raise ClientDisconnected(
                'the client went away before the request body was complete (%d of %d bytes)'
                % (self._length - left, self._length))

    def read(self, size=-1):
        left = self._left
        if left <= 0:
            return b''
        if size is None or size < 0 or size > left:
            size = left
        elif size == 0:
            return b''
        try:
            data = self._conn.read_upto(size)
        except ConnectionResetError:
            data = b''
        if len(data) < size:
            self._cut(left - len(data))
        else:
            self._left = left - size
        return data

    def readinto(self, b):
        left = self._left
        if left <= 0:
            return 0
        mv = memoryview(b).cast('B')
        if len(mv) > left:
            mv = mv[:left]
        if not len(mv):
            return 0
        try:
            n = self._conn.readinto_some(mv)
        except ConnectionResetError:
            n = 0
        if not n:
            self._cut(left)
        else:
            self._left = left - n
        return n

    def readline(self, size=-1):
        left = self._left
        if left <= 0:
            return b''
        if size is None or size < 0 or size > left:
            size = left
        elif size == 0:
            return b''
        try:
            line = self._conn.readline(size)
        except ConnectionResetError:
            line = b''
        if len(line) < size and not line.endswith(b'\n'):
            self._cut(left - len(line))   # the connection ended in the middle of the line
        else:
            self._left = left - len(line)
        return line

    def unread(self):
        return self._left > 0


EMPTY_INPUT = LengthInput(None, 0)


class ChunkedInput(InputBase):
    """wsgi.input decoding a chunked body as it arrives, ending at the last chunk."""
    __slots__ = ('_conn', '_left', '_crlf', '_done')

    def __init__(self, conn):
        self._conn = conn
        self._left = 0       # data bytes left in the current chunk
        self._crlf = False   # the current chunk's closing CRLF is still to be read
        self._done = False

    def _advance(self):
        """Starts the next chunk; False at the terminating chunk."""
        conn = self._conn
        if self._crlf:
            line = conn.readline(2)
            if line != b'\r\n':
                if line == b'\r':
                    line = conn.readline(1)
                    if line == b'\n':
                        line = b'\r\n'
                if line != b'\r\n' and line != b'\n':
                    raise self._bad(line)
            self._crlf = False
        line = conn.readline(MAX_LINE)
        if not line.endswith(b'\n'):
            raise self._bad(line)
        digits = line.split(b';', 1)[0].strip()
        if not digits or digits.strip(b'0123456789abcdefABCDEF'):
            raise self._bad(line)
        size = int(digits, 16)
        if size:
            self._left = size
            self._crlf = True
            return True
        while True:   # trailer section
            line = conn.readline(MAX_LINE)
            if line == b'\r\n' or line == b'\n' or not line:
                break
        self._done = True
        return False

    def _bad(self, line):
        self._done = True
        if not line:
            return ClientDisconnected('the client went away before the request body was complete '
                                      '(the chunked request body ended before its last chunk)')
        return BodyError('malformed chunked request body near %r' % line[:40])

    def read(self, size=-1):
        if self._done:
            return b''
        if size is None or size < 0:
            size = sys.maxsize
        parts = []
        conn = self._conn
        while size > 0:
            left = self._left
            if not left:
                if not self._advance():
                    break
                left = self._left
            n = size if size < left else left
            data = conn.read_upto(n)
            if len(data) < n:
                raise self._bad(b'')
            self._left = left - n
            size -= n
            parts.append(data)
        if len(parts) == 1:
            return parts[0]
        return b''.join(parts)

    def readinto(self, b):
        if self._done:
            return 0
        if not self._left and not self._advance():
            return 0
        mv = memoryview(b).cast('B')
        if len(mv) > self._left:
            mv = mv[:self._left]
        if not len(mv):
            return 0
        n = self._conn.readinto_some(mv)
        if not n:
            raise self._bad(b'')
        self._left -= n
        return n

    def readline(self, size=-1):
        if self._done:
            return b''
        if size is None or size < 0:
            size = sys.maxsize
        parts = []
        conn = self._conn
        while size > 0:
            left = self._left
            if not left:
                if not self._advance():
                    break
                left = self._left
            line = conn.readline(size if size < left else left)
            if not line:
                raise self._bad(b'')
            n = len(line)
            self._left = left - n
            size -= n
            parts.append(line)
            if line[-1:] == b'\n':
                break
        if len(parts) == 1:
            return parts[0]
        return b''.join(parts)

    def unread(self):
        return not self._done


# ---------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------

class FileWrapper(object):
    """wsgi.file_wrapper: sent with sendfile() when the file is a regular file."""

    def __init__(self, filelike, blksize=65536):
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, 'close'):
            self.close = filelike.close

    def __iter__(self):
        return self

    def __next__(self):
        data = self.filelike.read(self.blksize)
        if data:
            return data
        raise StopIteration


def sendall(sock, data):
    try:
        sock.sendall(data)
    except OSError as e:
        raise ClientGone(e.errno, 'sending the response failed: %s' % e)


def sendv(sock, bufs):
    """Sends several buffers with one sendmsg() when the socket takes them all."""
    try:
        sent = sock.sendmsg(bufs)
        for b in bufs:
            n = len(b)
            if sent >= n:
                sent -= n
                continue
            sock.sendall(memoryview(b)[sent:] if sent else b)
            sent = 0
    except OSError as e:
        raise ClientGone(e.errno, 'sending the response failed: %s' % e)


def as_bytes(data):
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError('a WSGI response body must consist of bytes, not %s' % type(data).__name__)


MODE_NONE, MODE_LENGTH, MODE_CHUNKED, MODE_RAW = range(4)
CHUNK_END = b'0\r\n\r\n'
ERROR_BODY = b'Internal Server Error\n'
ERROR_HEAD = ('HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain; charset=utf-8\r\n'
              'Content-Length: %d\r\nConnection: close\r\n\r\n' % len(ERROR_BODY)).encode('latin-1')


class Response(object):
    """One response: start_response() and write() for the app, framing for Ferry."""
    __slots__ = ('sock', 'head_request', 'keep', 'status', 'headers', 'head_sent',
                 'mode', 'left', 'complete')

    def __init__(self, sock, head_request, keep):
        self.sock = sock
        self.head_request = head_request
        self.keep = keep
        self.status = None
        self.headers = None
        self.head_sent = False
        self.mode = MODE_NONE
        self.left = 0
        self.complete = False

    def start_response(self, status, headers, exc_info=None):
        if exc_info:
            try:
                if self.head_sent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.status is not None:
            raise AssertionError('start_response() was already called')
        if type(status) is not str:
            raise TypeError('the status must be a str, not %s' % type(status).__name__)
        self.status = status
        self.headers = headers
        return self.write

    def _head(self, known):
        """Encodes the head; picks the body framing. `known`: the body's length, if known."""
        status = self.status
        if status is None:
            raise AssertionError('the app did not call start_response()')
        try:
            code = int(status[:3])
        except ValueError:
            raise ValueError('invalid status %r' % status)
        parts = ['HTTP/1.1 ', status, '\r\n']
        append = parts.append
        length = encoding = None
        close = False
        for name, value in self.headers:
            append(name + ': ' + value + '\r\n')
            if name[:1] in 'cCtT':
                lname = name.lower()
                if lname == 'content-length':
                    length = value
                elif lname == 'transfer-encoding':
                    encoding = value
                elif lname == 'connection' and 'close' in value.lower():
                    close = True
        if code < 200 or code == 204 or code == 304:
            self.mode = MODE_NONE
        elif self.head_request:
            self.mode = MODE_NONE
            if length is None and known:
                append('Content-Length: %d\r\n' % known)
        elif encoding is not None:
            # The app frames its body itself: pass it through, end it by closing.
            self.mode = MODE_RAW
            close = True
        elif length is not None:
            left = int(length.strip())
            if left < 0:
                raise ValueError('negative Content-Length %r' % length)
            self.mode = MODE_LENGTH
            self.left = left
        elif known is not None:
            self.mode = MODE_LENGTH
            self.left = known
            append('Content-Length: %d\r\n' % known)
        else:
            self.mode = MODE_CHUNKED
            append('Transfer-Encoding: chunked\r\n')
        if close:
            self.keep = False
        elif not self.keep:
            append('Connection: close\r\n')
        append('\r\n')
        head = ''.join(parts)
        lines = len(parts) - 2
        if head.count('\n') != lines or head.count('\r') != lines:
            raise ValueError('a response header contains a line break: %r' % (self.headers,))
        return head.encode('latin-1')

    def _clip(self, data):
        n = len(data)
        left = self.left
        if n > left:
            log('the app sent more body than its Content-Length (%s); the excess is dropped'
                % self.status)
            self.keep = False
            self.mode = MODE_NONE   # drop whatever else it sends
            self.left = 0
            return data[:left]
        self.left = left - n
        return data

    def write(self, data):
        """The write() callable (PEP 3333); also sends what the iterable yields."""
        if type(data) is not bytes:
            data = as_bytes(data)
        if not self.head_sent:
            if not data:
                if self.status is None:
                    raise AssertionError('write() called before start_response()')
                return
            head = self._head(None)
            self.head_sent = True
            mode = self.mode
            if mode == MODE_CHUNKED:
                sendv(self.sock, [head + (b'%x\r\n' % len(data)), data, b'\r\n'])
            elif mode == MODE_LENGTH:
                data = self._clip(data)
                if len(data) < SMALL_BODY:
                    sendall(self.sock, head + data)
                else:
                    sendv(self.sock, [head, data])
            elif mode == MODE_RAW:
                sendv(self.sock, [head, data])
            else:
                sendall(self.sock, head)
            return
        if not data:
            return
        mode = self.mode
        if mode == MODE_CHUNKED:
            if len(data) < SMALL_BODY:
                sendall(self.sock, b'%x\r\n%s\r\n' % (len(data), data))
            else:
                sendv(self.sock, [b'%x\r\n' % len(data), data, b'\r\n'])
        elif mode == MODE_LENGTH:
            data = self._clip(data)
            if data:
                sendall(self.sock, data)
        elif mode == MODE_RAW:
            sendall(self.sock, data)

    def finish(self):
        if not self.head_sent:
            head = self._head(0)
            self.head_sent = True
            sendall(self.sock, head)
        elif self.mode == MODE_CHUNKED:
            sendall(self.sock, CHUNK_END)
        elif self.mode == MODE_LENGTH and self.left:
            log('the app sent %d bytes less than its Content-Length (%s); closing the connection'
                % (self.left, self.status))
            self.keep = False
        self.complete = True

    def send_result(self, result):
        kind = type(result)
        if (kind is list or kind is tuple) and not self.head_sent:
            if len(result) == 1:
                body = result[0]
                if type(body) is not bytes:
                    body = as_bytes(body)
                head = self._head(len(body))
                self.head_sent = True
                mode = self.mode
                if mode == MODE_LENGTH:
                    body = self._clip(body)
                    if len(body) < SMALL_BODY:
                        sendall(self.sock, head + body)
                    else:
                        sendv(self.sock, [head, body])
                elif mode == MODE_RAW:
                    sendv(self.sock, [head, body])
                else:
                    sendall(self.sock, head)
                self.finish()
                return
            body = b''.join([as_bytes(b) for b in result])
            head = self._head(len(body))
            self.head_sent = True
            if self.mode == MODE_LENGTH:
                body = self._clip(body)
                sendv(self.sock, [head, body])
            elif self.mode == MODE_RAW:
                sendv(self.sock, [head, body])
            else:
                sendall(self.sock, head)
            self.finish()
            return
        if kind is FileWrapper and not self.head_sent and self.status is not None:
            if self._send_file(result):
                return
        write = self.write
        for data in result:
            if data:
                write(data)
        self.finish()

    def _send_file(self, wrapper):
        f = wrapper.filelike
        try:
            fd = f.fileno()
            st = os.fstat(fd)
        except Exception:
            return False
        if not stat.S_ISREG(st.st_mode):
            return False
        try:
            offset = f.tell()
        except Exception:
            offset = os.lseek(fd, 0, os.SEEK_CUR)
        size = max(0, st.st_size - offset)
        head = self._head(size)
        self.head_sent = True
        mode = self.mode
        sock = self.sock
        if mode == MODE_NONE:
            sendall(sock, head)
            self.finish()
            return True
        count = size
        if mode == MODE_LENGTH and count > self.left:
            count = self.left
        if count <= SMALL_FILE:
            data = os.pread(fd, count, offset)
            sendall(sock, head + data)
            sent = len(data)
        else:
            sendall(sock, head)
            sent = self._sendfile(fd, offset, count)
        if mode == MODE_LENGTH:
            self.left -= sent
        self.finish()
        return True

    def _sendfile(self, fd, offset, count):
        out = self.sock.fileno()
        sent = 0
        try:
            while sent < count:
                try:
                    n = os.sendfile(out, fd, offset + sent, count - sent)
                except OSError as e:
                    if sent or e.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK):
                        raise
                    return self._copy_file(fd, offset, count)
                if not n:
                    break   # the file shrank
                sent += n
        except OSError as e:
            raise ClientGone(e.errno, 'sending the file failed: %s' % e)
        return sent

    def _copy_file(self, fd, offset, count):
        sent = 0
        while sent < count:
            data = os.pread(fd, min(RECV_SIZE * 4, count - sent), offset + sent)
            if not data:
                break
            sendall(self.sock, data)
            sent += len(data)
        return sent


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------

def make_accept(listener):
    """A function returning the next connection, as a blocking socket."""
    raw = getattr(listener, '_accept', None)
    getdefaulttimeout = socket.getdefaulttimeout
    if raw is None:
        def accept():
            sock = listener.accept()[0]
            if getdefaulttimeout() is not None:
                sock.settimeout(None)
            return sock
        return accept
    new = socket.socket
    family = listener.family
    kind = listener.type

    def accept():
        # socket.accept() minus its per-call enum conversions.
        sock = new(family, kind, 0, raw()[0])
        if getdefaulttimeout() is not None:
            sock.settimeout(None)
        return sock
    return accept


class Server(object):
    def __init__(self, app, args, listener, path):
        self.app = app
        password = args.get('connect_password')
        self.password = password.encode('latin-1') if password else None
        self.keepalive = opt_bool(args, 'keepalive', True)
        self.thread_model = args.get('concurrency_model') == 'thread'
        self.thread_count = max(1, opt_int(args, 'thread_count', 1)) if self.thread_model else 1
        self.listener = listener
        self.listen_fd = listener.fileno()
        self.accept = make_accept(listener)
        self.path = path
        self.stopping = False
        self.base_env = {
            'wsgi.version': (1, 0),
            'wsgi.multithread': self.thread_model,
            'wsgi.multiprocess': True,
            'wsgi.run_once': False,
            'wsgi.input_terminated': True,
            'wsgi.file_wrapper': FileWrapper,
        }
        self.lock = threading.Lock()
        self.acceptors = 0            # threads blocked in accept() (thread model)
        self.stop_r = self.stop_w = None
        self.fatal_r = self.fatal_w = None
        self.promotion = None         # the connection of a PROMOTE request, once one came

    # --- one request ---

    def handle(self, conn):
        """Serves one request; True when the connection may carry another."""
        payload = conn.read_frame()
        if payload is None:
            return False
        it = iter(payload.decode('latin-1').split('\0'))
        env = dict(zip(it, it))
        method = env.get('REQUEST_METHOD')
        if method == 'PING' or method == 'ping':
            sendall(conn.sock, b'pong')
            return False
        password = env.pop('PASSENGER_CONNECT_PASSWORD', None)
        if self.password is not None:
            if password is None or not compare_digest(password.encode('latin-1'), self.password):
                log('refused a request without the right connect password')
                return False
        if method == 'OOBW':
            sendall(conn.sock, b'oobw done')
            return False
        if method == 'PROMOTE':
            # Re-forking (PROTOCOL.md 6.4): serving ends, and the main thread makes this process
            # the app's template, answering on this connection.
            self.promotion, conn.sock = conn.sock, None
            if self.fatal_w is not None:
                os.write(self.fatal_w, b'p')   # wakes the main thread (thread model)
            return False
        keep = self.keepalive and not self.stopping
        length = env.get('CONTENT_LENGTH')
        if length:
            keep = False
            try:
                n = int(length)
                if n < 0:
                    raise ValueError(length)
            except ValueError:
                log('refused a request with CONTENT_LENGTH %r' % length)
                return False
            inp = LengthInput(conn, n) if n else EMPTY_INPUT
        elif 'HTTP_TRANSFER_ENCODING' in env:
            keep = False
            if env.pop('HTTP_TRANSFER_ENCODING').strip().lower() == 'chunked':
                inp = ChunkedInput(conn)
            else:
                inp = LengthInput(conn, sys.maxsize, until_eof=True)   # up to end of file
        else:
            inp = EMPTY_INPUT
        env.update(self.base_env)
        env['wsgi.input'] = inp
        env['wsgi.errors'] = sys.stderr
        https = env.get('HTTPS')
        env['wsgi.url_scheme'] = 'https' if https and https.lower() in ('on', '1', 'yes', 'true') else 'http'
        resp = Response(conn.sock, method == 'HEAD', keep)
        self.run_app(env, resp)
        if inp is not EMPTY_INPUT and inp.unread():
            conn.drain()
        return resp.keep and resp.complete

    def run_app(self, env, resp):
        result = None
        try:
            try:
                result = self.app(env, resp.start_response)
                resp.send_result(result)
            finally:
                if result is not None:
                    close = getattr(result, 'close', None)
                    if close is not None:
                        close()
        except ClientDisconnected as e:
            # The client left mid-upload and Ferry reset the connection: nobody reads an answer.
            resp.keep = False
            log('%s %s: %s' % (env.get('REQUEST_METHOD'), env.get('REQUEST_URI'), e))
        except ClientGone as e:
            resp.keep = False
            if _debug:
                log('connection lost while answering %s %s: %s'
                    % (env.get('REQUEST_METHOD'), env.get('REQUEST_URI'), e))
        except Exception:
            resp.keep = False
            log('error while handling %s %s:\n%s' % (
                env.get('REQUEST_METHOD'), env.get('REQUEST_URI'), traceback.format_exc().rstrip()))
            if not resp.head_sent:
                resp.head_sent = True
                try:
                    resp.sock.sendall(ERROR_HEAD if resp.head_request else ERROR_HEAD + ERROR_BODY)
                except OSError:
                    pass

    # --- connections ---

    def serve_connection(self, sock, stop_fd):
        conn = Conn(sock)
        try:
            while True:
                if not self.handle(conn) or self.stopping:
                    break
                if len(conn.buf) == conn.pos and not self.wait_next(conn, stop_fd):
                    break
        except ClientGone:
            pass
        except ProtocolError as e:
            log('closing a connection: %s' % e)
        except (ConnectionError, OSError) as e:
            if _debug:
                log('connection error: %s' % e)
        except Exception:
            log('internal error while serving a connection:\n%s' % traceback.format_exc().rstrip())
        finally:
            conn.close()

    def wait_next(self, conn, stop_fd):
        """Waits for the next request on a kept connection. False: close it.

        Also watches the listening socket so that a new connection (for instance
        Ferry's out-of-band-work request) is never left waiting while this thread
        idles: when nobody else is accepting, the kept connection is given up."""
        poller = conn.poller
        if poller is None:
            poller = conn.poller = select.poll()
            poller.register(conn.fd, select.POLLIN)
            poller.register(stop_fd, select.POLLIN)
        single = not self.thread_model
        watch = single or self.acceptors == 0
        while True:
            if watch != conn.watching_listener:
                if watch:
                    poller.register(self.listen_fd, select.POLLIN)
                else:
                    poller.unregister(self.listen_fd)
                conn.watching_listener = watch
            events = poller.poll()
            ready = stop = incoming = False
            for fd, ev in events:
                if fd == conn.fd:
                    ready = True
                elif fd == stop_fd:
                    if single:
                        if self.stdin_ended(ev):
                            stop = True
                    else:
                        stop = True
                else:
                    incoming = True
            if ready:
                return True
            if stop:
                return False
            if incoming:
                if single or self.acceptors == 0:
                    return False
                watch = False

    # --- process model: the main thread serves ---

    def stdin_ended(self, events):
        if events & select.POLLNVAL:
            return True
        try:
            return not os.read(0, 4096)
        except OSError:
            return True

    def run_single(self):
        poller = select.poll()
        poller.register(self.listen_fd, select.POLLIN)
        poller.register(0, select.POLLIN)
        accept = self.accept
        while True:
            incoming = False
            for fd, ev in poller.poll():
                if fd == 0:
                    if self.stdin_ended(ev):
                        return
                else:
                    incoming = True
            if incoming:
                try:
                    sock = accept()
                except OSError as e:
                    self.accept_failed(e)
                    continue
                self.serve_connection(sock, 0)
                if self.promotion is not None:
                    return

    def accept_failed(self, e):
        if e.errno in (errno.ECONNABORTED, errno.EINTR, errno.EAGAIN, errno.EPROTO):
            return
        if e.errno in (errno.EBADF, errno.EINVAL, errno.ENOTSOCK):
            raise e   # the listening socket is gone: nothing more to serve
        log('accept() failed: %s' % e)
        time.sleep(0.1)   # back off until descriptors or memory free up

    # --- thread model: N threads accept, the main thread watches stdin ---

    def run_threads(self):
        self.stop_r, self.stop_w = os.pipe()
        self.fatal_r, self.fatal_w = os.pipe()
        threads = []
        for i in range(self.thread_count):
            t = threading.Thread(target=self.worker, name='wsgi-worker-%d' % (i + 1))
            t.daemon = True
            t.start()
            threads.append(t)
        poller = select.poll()
        poller.register(0, select.POLLIN)
        poller.register(self.fatal_r, select.POLLIN)
        done = False
        while not done:
            for fd, ev in poller.poll():
                if fd != 0 or self.stdin_ended(ev):
                    done = True
        self.stopping = True
        os.write(self.stop_w, b'x')   # wakes threads waiting on kept connections
        try:
            self.listener.shutdown(socket.SHUT_RDWR)   # wakes threads blocked in accept()
        except OSError:
            for _ in threads:
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(self.path)
                    s.close()
                except OSError:
                    pass
        for t in threads:
            t.join()

    def worker(self):
        try:
            accept = self.accept
            lock = self.lock
            while not self.stopping:
                with lock:
                    self.acceptors += 1
                try:
                    sock = accept()
                except OSError as e:
                    if self.stopping:
                        break
                    self.accept_failed(e)
                    continue
                finally:
                    with lock:
                        self.acceptors -= 1
                self.serve_connection(sock, self.stop_r)
        except BaseException:
            # SystemExit from the app, or a loader bug: stop the whole process.
            log('a worker thread ended:\n%s' % traceback.format_exc().rstrip())
            try:
                os.write(self.fatal_w, b'x')
            except OSError:
                pass

    def serve(self):
        if self.thread_model:
            self.run_threads()
        else:
            self.run_single()

    def cleanup(self):
        try:
            self.listener.close()
        except OSError:
            pass
        for fd in (self.stop_r, self.stop_w, self.fatal_r, self.fatal_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.stop_r = self.stop_w = self.fatal_r = self.fatal_w = None
        try:
            os.unlink(self.path)
        except OSError:
            pass


def install_sigterm(server):
    # SIGTERM means "exit now" (stdin EOF is the graceful stop). Respect an app's own handler.
    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        return

    def on_sigterm(signum, frame):
        try:
            os.unlink(server.path)
        except OSError:
            pass
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)


def main():
    global _debug
    started = time.monotonic()
    path = os.environ.get('PASSENGER_SPAWN_WORK_DIR')
    if not path:
        sys.stderr.write('wsgi-loader.py: PASSENGER_SPAWN_WORK_DIR is not set; '
                         'this program is started by Ferry\n')
        return 1
    wd = WorkDir(path)
    step = STEPS[0]
    if not wd.begin_known(step):
        wd.step_begin(step, started)
    wd.step_end(step, True, started)

    def prepare():
        args = wd.read_args()
        app_root = os.path.abspath(args.get('app_root') or os.getcwd())
        # Python put this script's own directory first on sys.path; it must not
        # shadow the app's modules.
        here = os.path.dirname(os.path.abspath(__file__))
        if sys.path and sys.path[0] and os.path.abspath(sys.path[0]) == here:
            del sys.path[0]
        if app_root not in sys.path:
            sys.path.insert(0, app_root)
        title = args.get('process_title') or 'Ferry PythonApp'
        set_process_title('%s: %s' % (title, args.get('app_group_name') or app_root))
        install_sigquit()
        return args, app_root

    args, app_root = run_step(wd, STEPS[1], prepare)
    _debug = opt_int(args, 'log_level', 3) >= 5

    def load():
        startup = args.get('startup_file') or 'passenger_wsgi.py'
        return load_app(app_root, os.path.join(app_root, startup))

    app = run_step(wd, STEPS[2], load)
    if is_asgi_app(app):
        return serve_asgi(args, wd, app_root, app)

    def after_fork(wd):
        worker_args = wd.read_args()
        title = worker_args.get('process_title') or 'Ferry PythonApp'
        set_process_title('%s: %s' % (title, worker_args.get('app_group_name') or app_root))
        random.seed()   # os.register_at_fork hooks (the app's too) already ran in os.fork()
        return worker_args

    if opt_bool(args, 'preloader', False):
        # Smart spawning: serve spawn commands; returns only in a forked worker.
        listener, sock_path = run_step(wd, STEPS[3], lambda: preloader_listen(args))
        if not report_up(path, {'sockets': [{'name': 'preloader', 'address': 'unix:' + sock_path,
                                             'protocol': 'preloader', 'concurrency': 1}]}):
            return 1
        worker_dir = serve_preloader(listener, sock_path)
        if worker_dir is None:
            return 0
        path = worker_dir
        wd = WorkDir(path)
        args = run_step(wd, AFTER_FORK, lambda: after_fork(wd))

    def listen():
        socket_dir = args.get('socket_dir') or __import__('tempfile').gettempdir()
        listener, sock_path = open_listener(socket_dir)
        server = Server(app, args, listener, sock_path)
        try:
            concurrency = server.thread_count if server.thread_model else 1
            props = {'sockets': [{'name': 'main', 'address': 'unix:' + sock_path,
                                  'protocol': 'session', 'concurrency': concurrency,
                                  'accept_http_requests': True}]}
            with open(os.path.join(path, 'response', 'properties.json'), 'w') as f:
                json.dump(props, f)
            install_sigterm(server)
        except BaseException:
            server.cleanup()
            raise
        return server

    while True:
        server = run_step(wd, STEPS[3], listen)
        try:
            with open(os.path.join(path, 'response', 'finish'), 'w') as f:
                f.write('1')
        except OSError as e:
            log('cannot write the finish file: %s' % e)
            server.cleanup()
            return 1
        try:
            server.serve()
        finally:
            server.cleanup()
        if server.promotion is None:
            return 0
        # Re-forking: this process is the app's template now; returns only in a forked worker.
        worker_dir = become_template(server.promotion, args)
        if worker_dir is None:
            return 0
        path = worker_dir
        wd = WorkDir(path)
        args = run_step(wd, AFTER_FORK, lambda: after_fork(wd))


def report_up(path, props):
    """Writes properties.json, then `1` into the finish FIFO. False when that failed."""
    try:
        with open(os.path.join(path, 'response', 'properties.json'), 'w') as f:
            json.dump(props, f)
        with open(os.path.join(path, 'response', 'finish'), 'w') as f:
            f.write('1')
        return True
    except OSError as e:
        log('cannot report to Ferry: %s' % e)
        return False


# ---------------------------------------------------------------------------
# Preloader mode (smart spawning, loaders/PROTOCOL.md section 6)
# ---------------------------------------------------------------------------
#
# With `preloader: true` in its arguments the loader loads the app, then listens on a unix socket
# for one-line JSON commands, {"command":"spawn","work_dir":WD}, and answers each with
# {"result":"ok","pid":N} or {"result":"error","message":M}. For each it forks a worker whose
# stdin and stdout/stderr are the FIFOs WD/stdin and WD/stdout_and_err; the worker then finishes
# a normal start in WD. os.fork() runs the os.register_at_fork hooks, the app's included, so apps
# that must reconnect or restart threads after a fork register an `after_in_child` hook.

AFTER_FORK = 'subprocess_prepare_after_forking_from_preloader'
MAX_COMMAND = 10240


def preloader_listen(args):
    socket_dir = args.get('socket_dir') or __import__('tempfile').gettempdir()
    for _ in range(128):
        path = os.path.join(socket_dir, 'preloader.' + os.urandom(8).hex())
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(path)
        except OSError as e:
            sock.close()
            if e.errno == errno.EADDRINUSE:
                continue
            raise
        os.chmod(path, 0o600)
        sock.listen(128)
        return sock, path
    raise OSError(errno.EADDRINUSE, 'no free socket name in %s' % socket_dir)


def reap_children(signum=None, frame=None):
    """Reaps exited workers: the preloader is their parent (Ferry watches them by pidfd)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        except OSError:
            return
        if pid == 0:
            return


def serve_preloader(listener, sock_path):
    """Serves spawn commands until stdin ends (returns None) or, in a forked worker, returns the
    worker's work directory."""
    def on_sigterm(signum, frame):
        try:
            os.unlink(sock_path)
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGCHLD, reap_children)
    import gc
    gc.collect()
    if hasattr(gc, 'freeze'):
        gc.freeze()   # the collector no longer writes to the loaded objects: pages stay shared
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    poller.register(0, select.POLLIN)
    while True:
        for fd, ev in poller.poll():
            if fd == 0:
                if stdin_ended(ev):
                    listener.close()
                    try:
                        os.unlink(sock_path)
                    except OSError:
                        pass
                    return None
                continue
            try:
                conn = listener.accept()[0]
            except OSError:
                continue
            worker_dir = serve_command(conn, listener)
            if worker_dir is not None:
                return worker_dir


def become_template(conn, args):
    """Re-forking (PROTOCOL.md section 6.4): this worker has stopped serving for a PROMOTE
    request on `conn`. Calls the app's `ferry_promoted_to_template()` (a callable in the startup
    file, if it defines one: close connections, stop threads), listens on a preloader socket,
    answers {"result":"ok","socket":"unix:PATH"} on `conn`, and serves spawn commands like a
    preloader. The os.register_at_fork hooks run in each worker it forks, as from a preloader.
    Returns None when stdin ends, else (in a forked worker) the worker's work directory."""
    hook = getattr(sys.modules.get('passenger_wsgi'), 'ferry_promoted_to_template', None)
    if callable(hook):
        try:
            hook()
        except Exception:
            log('ferry_promoted_to_template() failed:\n%s' % traceback.format_exc().rstrip())
    try:
        listener, sock_path = preloader_listen(args)
    except OSError as e:
        answer(conn, {'result': 'error', 'message': 'cannot listen: %s' % e})
        return None
    answer(conn, {'result': 'ok', 'socket': 'unix:' + sock_path})
    return serve_preloader(listener, sock_path)


def stdin_ended(events):
    if events & select.POLLNVAL:
        return True
    try:
        return not os.read(0, 4096)
    except OSError:
        return True


def read_command(conn):
    conn.settimeout(10)
    data = b''
    while b'\n' not in data and len(data) < MAX_COMMAND:
        chunk = conn.recv(MAX_COMMAND - len(data))
        if not chunk:
            break
        data += chunk
    command = json.loads(data.split(b'\n', 1)[0].decode('utf-8'))
    if not isinstance(command, dict):
        raise ValueError('the command is not a JSON object')
    return command


def answer(conn, response):
    try:
        conn.settimeout(10)
        conn.sendall(json.dumps(response).encode() + b'\n')
    except OSError:
        pass
    finally:
        conn.close()


def serve_command(conn, listener):
    """Handles one command. Returns the work directory in the forked worker, else None."""
    try:
        command = read_command(conn)
        work_dir = command.get('work_dir')
        if command.get('command') != 'spawn':
            raise ValueError('unknown command %r' % (command.get('command'),))
        if not isinstance(work_dir, str) or not os.path.isdir(work_dir):
            raise ValueError('the work directory %r does not exist' % (work_dir,))
    except Exception as e:
        answer(conn, {'result': 'error', 'message': str(e) or type(e).__name__})
        return None
    wd = WorkDir(work_dir)
    wd.step_begin('preloader_preparation')
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    wd.step_end('preloader_preparation', True)
    wd.step_begin('preloader_fork_subprocess')
    try:
        pid = os.fork()
    except OSError as e:
        wd.step_end('preloader_fork_subprocess', False)
        answer(conn, {'result': 'error', 'message': 'fork() failed: %s' % e})
        return None
    if pid == 0:
        try:
            become_worker(conn, listener, wd)
        except BaseException as e:
            wd.step_end(AFTER_FORK, False)
            log('the forked worker could not take its FIFOs: %s' % e)
            os._exit(1)
        return work_dir
    try:
        os.setpgid(pid, pid)   # also done in the child: whichever runs first
    except OSError:
        pass
    wd.step_end('preloader_fork_subprocess', True)
    wd.step_begin('preloader_send_response')
    answer(conn, {'result': 'ok', 'pid': pid})
    wd.step_end('preloader_send_response', True)
    wd.step_begin('preloader_finish')
    wd.step_end('preloader_finish', True)
    return None


def become_worker(conn, listener, wd):
    """In the forked child: its own process group, stdio on the FIFOs, none of the preloader's
    descriptors or signal handlers."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    wd.step_begin(AFTER_FORK)
    fd = os.open(os.path.join(wd.path, 'stdin'), os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)
    fd = os.open(os.path.join(wd.path, 'stdout_and_err'), os.O_WRONLY)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    conn.close()
    listener.close()
    os.environ['PASSENGER_SPAWN_WORK_DIR'] = wd.path


if __name__ == '__main__':
    sys.exit(main())
