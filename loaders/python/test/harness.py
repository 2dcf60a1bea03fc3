# harness.py: runs wsgi-loader.py (or asgi-loader.py) the way Ferry does, for the loaders' tests.
#
# `Loader` builds an app directory and a SpawningKit work directory (args.json, args/<key>,
# the response/finish FIFO, response/error/, response/steps/*, envdump/annotations/), starts
# the loader with a stdin pipe and waits for `finish`. `Client` speaks the `session` protocol
# on the loader's unix socket and parses the HTTP/1.1 responses it writes back.

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LOADER = os.path.join(os.path.dirname(HERE), 'wsgi-loader.py')
ASGI_LOADER = os.path.join(os.path.dirname(HERE), 'asgi-loader.py')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
APPS = os.path.join(REPO, 'crates', 'ferry-test-support', 'apps')
PYTHON = os.environ.get('FERRY_WSGI_TEST_PYTHON') or sys.executable
PASSWORD = 'ferrytestpasswrd'
STEPS = ('subprocess_exec_wrapper', 'subprocess_wrapper_preparation',
         'subprocess_app_load_or_exec', 'subprocess_listen')
TIMEOUT = 30


def python_has(module):
    return subprocess.call([PYTHON, '-c', 'import ' + module],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def under_ci():
    """Whether this is a CI run (CI=true or CI=1): there a test that cannot run fails."""
    return os.environ.get('CI', '').lower() in ('true', '1')


def requires_module(module):
    """Class decorator for tests that need `module` in the loader's python (the skip policy of
    ferry_test_support::require): when it is missing, the tests are skipped with the reason on
    stderr, except under CI, where they fail instead."""
    if python_has(module):
        return lambda cls: cls
    reason = '%s cannot import %s (scripts/install-deps.sh installs it)' % (PYTHON, module)

    def fail(cls):
        def setUpClass(klass):
            raise AssertionError('%s cannot run under CI (CI=true): %s' % (klass.__name__, reason))
        cls.setUpClass = classmethod(setUpClass)
        return cls

    def skip(cls):
        sys.stderr.write('SKIPPED: %s: %s\n' % (cls.__name__, reason))
        return unittest.skip(reason)(cls)

    return fail if under_ci() else skip


class Loader(object):
    """One loader process, started as Ferry starts it."""

    def __init__(self, source=None, app_dir=None, files=None, args=None, env=None, loader=LOADER):
        self.tmp = tempfile.mkdtemp(prefix='ferry-wsgi-')
        self.app_root = os.path.join(self.tmp, 'app')
        if app_dir:
            shutil.copytree(app_dir, self.app_root)
        else:
            os.mkdir(self.app_root)
        if source is not None:
            self.write_file('passenger_wsgi.py', source)
        for name, content in (files or {}).items():
            self.write_file(name, content)
        self.work_dir = os.path.join(self.tmp, 'work')
        self.socket_dir = os.path.join(self.tmp, 'sockets')
        os.mkdir(self.socket_dir, 0o700)
        self.args = {
            'app_root': self.app_root,
            'startup_file': os.path.join(self.app_root, 'passenger_wsgi.py'),
            'socket_dir': self.socket_dir,
            'connect_password': PASSWORD,
            'app_group_name': self.app_root,
            'process_title': 'Ferry PythonApp',
            'app_env': 'production',
            'base_uri': '/',
            'log_level': 3,
            'UNIX_PATH_MAX': 107,
            'bind_address': '127.0.0.1',
        }
        self.args.update(args or {})
        self.make_work_dir()
        self.output_path = os.path.join(self.tmp, 'output.log')
        environ = dict(os.environ)
        environ.update({
            'PASSENGER_SPAWN_WORK_DIR': self.work_dir,
            'IN_PASSENGER': '1',
            'PYTHONUNBUFFERED': '1',
            'PASSENGER_APP_ENV': 'production',
            'WSGI_ENV': 'production',
            'PASSENGER_BASE_URI': '/',
        })
        environ.pop('FERRY_TEST_LINT', None)
        environ.update(env or {})
        self.output = open(self.output_path, 'wb')
        self.proc = subprocess.Popen(
            [PYTHON, loader], cwd=self.app_root, env=environ, stdin=subprocess.PIPE,
            stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True)
        self.finished = None

    def write_file(self, name, content):
        path = os.path.join(self.app_root, name)
        d = os.path.dirname(path)
        if not os.path.isdir(d):
            os.makedirs(d)
        with open(path, 'w') as f:
            f.write(content)

    def make_work_dir(self):
        wd = self.work_dir
        for d in ['args', 'response/error', 'envdump/annotations'] + ['response/steps/' + s for s in STEPS]:
            os.makedirs(os.path.join(wd, d), 0o700)
        with open(os.path.join(wd, 'args.json'), 'w') as f:
            json.dump(self.args, f)
        for key, value in self.args.items():
            if isinstance(value, (dict, list)):
                with open(os.path.join(wd, 'args', key + '.json'), 'w') as f:
                    json.dump(value, f)
            else:
                if isinstance(value, bool):
                    value = 'true' if value else 'false'
                elif value is None:
                    value = ''
                with open(os.path.join(wd, 'args', key), 'w') as f:
                    f.write(str(value))
        os.mkfifo(os.path.join(wd, 'response', 'finish'), 0o600)

    # --- handshake ---

    def wait_finish(self, timeout=TIMEOUT):
        """What the loader wrote to `finish` ('1'), or None when it exited without writing."""
        if self.finished is not None:
            return self.finished
        fd = os.open(os.path.join(self.work_dir, 'response', 'finish'), os.O_RDONLY | os.O_NONBLOCK)
        try:
            deadline = time.monotonic() + timeout
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            data = b''
            while time.monotonic() < deadline:
                if poller.poll(20):
                    chunk = os.read(fd, 16)
                    if chunk:
                        data += chunk
                        break
                if self.proc.poll() is not None:
                    # It may have written just before exiting.
                    try:
                        data += os.read(fd, 16)
                    except BlockingIOError:
                        pass
                    break
            self.finished = data.decode() if data else None
            return self.finished
        finally:
            os.close(fd)

    def ready(self):
        result = self.wait_finish()
        if result != '1':
            raise AssertionError('the loader did not finish its handshake (%r); output:\n%s'
                                 % (result, self.read_output()))
        return self

    def properties(self):
        with open(os.path.join(self.work_dir, 'response', 'properties.json')) as f:
            return json.load(f)

    @property
    def socket_path(self):
        address = self.properties()['sockets'][0]['address']
        assert address.startswith('unix:'), address
        return address[len('unix:'):]

    def step(self, step, name):
        path = os.path.join(self.work_dir, 'response', 'steps', step, name)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    def error_file(self, name):
        path = os.path.join(self.work_dir, 'response', 'error', name)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    def annotation(self, name):
        path = os.path.join(self.work_dir, 'envdump', 'annotations', name)
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    def read_output(self):
        with open(self.output_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def wait_output(self, needle, timeout=TIMEOUT):
        """Waits until the loader's output contains `needle`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.read_output():
                return True
            time.sleep(0.02)
        return False

    # --- requests ---

    def connect(self):
        return Client(self.socket_path)

    def request(self, method, path, **kw):
        client = self.connect()
        try:
            return client.request(method, path, **kw)
        finally:
            client.close()

    # --- stopping ---

    def close_stdin(self):
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()

    def wait(self, timeout=TIMEOUT):
        return self.proc.wait(timeout)

    def stop(self, timeout=TIMEOUT):
        self.close_stdin()
        return self.wait(timeout)

    def cleanup(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        self.close_stdin()
        self.output.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def frame(pairs):
    payload = b''.join(k.encode('latin-1') + b'\0' + v.encode('latin-1') + b'\0' for k, v in pairs)
    return struct.pack('>I', len(payload)) + payload


def request_env(method, path, query='', headers=None, script_name=''):
    pairs = [
        ('REQUEST_URI', script_name + path + ('?' + query if query else '')),
        ('PATH_INFO', path),
        ('SCRIPT_NAME', script_name),
        ('QUERY_STRING', query),
        ('REQUEST_METHOD', method),
        ('SERVER_NAME', 'localhost'),
        ('SERVER_PORT', '80'),
        ('SERVER_PROTOCOL', 'HTTP/1.1'),
        ('SERVER_SOFTWARE', 'Ferry/test'),
        ('REMOTE_ADDR', '127.0.0.1'),
        ('REMOTE_PORT', '0'),
        ('HTTP_HOST', 'localhost'),
        ('PASSENGER_CONNECT_PASSWORD', PASSWORD),
    ]
    for name, value in (headers or {}).items():
        pairs = [p for p in pairs if p[0] != name]
        if value is not None:
            pairs.append((name, value))
    return pairs


def chunk_encode(pieces, extension=False, trailer=False):
    out = []
    for piece in pieces:
        out.append(b'%x%s\r\n' % (len(piece), b';ext=1' if extension else b''))
        out.append(piece)
        out.append(b'\r\n')
    out.append(b'0\r\n')
    if trailer:
        out.append(b'X-Trailer: yes\r\n')
    out.append(b'\r\n')
    return b''.join(out)


class Response(object):
    def __init__(self, status, reason, headers, body, chunked):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.chunked = chunked

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode('utf-8'))

    def __repr__(self):
        return '<Response %d %r %r>' % (self.status, self.headers, self.body[:200])


class Incomplete(Exception):
    pass


class Client(object):
    """One session-protocol connection."""

    def __init__(self, path, timeout=TIMEOUT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b''

    def close(self):
        self.sock.close()

    def send_request(self, method, path, query='', headers=None, body=None, chunks=None,
                     script_name='', raw_pairs=None, half_close=None, extension=False, trailer=False):
        if raw_pairs is not None:
            pairs = raw_pairs
        else:
            headers = dict(headers or {})
            if body is not None:
                headers.setdefault('CONTENT_LENGTH', str(len(body)))
            if chunks is not None:
                headers.setdefault('HTTP_TRANSFER_ENCODING', 'chunked')
            pairs = request_env(method, path, query, headers, script_name)
        data = frame(pairs)
        if body is not None and len(body) < 65536:
            self.sock.sendall(data + body)
        else:
            self.sock.sendall(data)
            if body is not None:
                self.sock.sendall(body)
        if chunks is not None:
            self.sock.sendall(chunk_encode(chunks, extension, trailer))
        if half_close is None:
            half_close = body is not None or chunks is not None
        if half_close:
            self.sock.shutdown(socket.SHUT_WR)

    def _more(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise Incomplete('connection closed; buffered: %r' % self.buf[:200])
        self.buf += data

    def read_exact(self, n):
        while len(self.buf) < n:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_line(self):
        while b'\n' not in self.buf:
            self._more()
        i = self.buf.index(b'\n') + 1
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_head(self):
        while b'\r\n\r\n' not in self.buf:
            self._more()
        i = self.buf.index(b'\r\n\r\n')
        head, self.buf = self.buf[:i].decode('latin-1'), self.buf[i + 4:]
        lines = head.split('\r\n')
        version, code, reason = (lines[0].split(' ', 2) + [''])[:3]
        assert version == 'HTTP/1.1', lines[0]
        headers = []
        for line in lines[1:]:
            name, value = line.split(':', 1)
            headers.append((name, value.strip()))
        return int(code), reason, headers

    def read_chunk(self):
        """One chunk of a chunked body; b'' for the last one (trailers consumed)."""
        size = int(self.read_line().split(b';')[0].strip(), 16)
        if not size:
            while self.read_line() not in (b'\r\n', b'\n'):
                pass
            return b''
        data = self.read_exact(size)
        assert self.read_exact(2) == b'\r\n'
        return data

    def read_to_eof(self):
        while True:
            data = self.sock.recv(1 << 16)
            if not data:
                break
            self.buf += data
        data, self.buf = self.buf, b''
        return data

    def at_eof(self):
        """True when the loader closed the connection without sending anything more."""
        return self.read_to_eof() == b''

    def read_response(self, head_request=False):
        status, reason, headers = self.read_head()
        resp = Response(status, reason, headers, b'', False)
        te = resp.header('Transfer-Encoding')
        cl = resp.header('Content-Length')
        if head_request or status < 200 or status in (204, 304):
            pass
        elif te is not None:
            assert te.lower() == 'chunked', te
            resp.chunked = True
            parts = []
            while True:
                chunk = self.read_chunk()
                if not chunk:
                    break
                parts.append(chunk)
            resp.body = b''.join(parts)
        elif cl is not None:
            resp.body = self.read_exact(int(cl))
        else:
            resp.body = self.read_to_eof()
        return resp

    def request(self, method, path, **kw):
        self.send_request(method, path, **kw)
        return self.read_response(head_request=(method == 'HEAD'))
