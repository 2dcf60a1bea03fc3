# test_loader.py: the WSGI loader against the test app in apps/sink, spoken to as Ferry does.

import hashlib
import os
import signal
import socket
import stat
import threading
import time
import unittest

from harness import (LOADER, PASSWORD, STEPS, Client, Incomplete, Loader, frame, request_env)

HERE = os.path.dirname(os.path.abspath(__file__))
SINK = os.path.join(HERE, 'apps', 'sink')


def sha(data):
    return hashlib.sha256(data).hexdigest()


def pattern(n):
    block = bytes(range(256)) * 256 + b'line\n'
    return (block * (n // len(block) + 1))[:n]


class SharedLoader(unittest.TestCase):
    """Tests sharing one loader (process model) started once for the class."""
    env = {}
    args = {}

    @classmethod
    def setUpClass(cls):
        cls.loader = Loader(app_dir=SINK, env=cls.env, args=cls.args)
        try:
            cls.loader.ready()
        except BaseException:
            cls.loader.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.loader.cleanup()

    def get(self, path, **kw):
        return self.loader.request('GET', path, **kw)

    def gate_path(self, name):
        return os.path.join(self.loader.tmp, name)


class HandshakeTests(SharedLoader):
    def test_properties(self):
        props = self.loader.properties()
        self.assertEqual(len(props['sockets']), 1)
        sock = props['sockets'][0]
        self.assertEqual(sock['name'], 'main')
        self.assertEqual(sock['protocol'], 'session')
        self.assertEqual(sock['concurrency'], 1)
        self.assertIs(sock['accept_http_requests'], True)
        path = sock['address'][len('unix:'):]
        self.assertEqual(os.path.dirname(path), self.loader.socket_dir)
        name = os.path.basename(path)
        self.assertTrue(name.startswith('wsgi.'), name)
        int(name[len('wsgi.'):], 16)
        st = os.stat(path)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.getuid())

    def test_steps(self):
        now = time.monotonic()
        previous = 0
        for step in STEPS:
            self.assertEqual(self.loader.step(step, 'state'), 'STEP_PERFORMED', step)
            begin = float(self.loader.step(step, 'begin_time_monotonic'))
            end = float(self.loader.step(step, 'end_time_monotonic'))
            self.assertLessEqual(previous, begin, step)
            self.assertLessEqual(begin, end, step)
            self.assertLessEqual(end, now, step)
            self.assertGreater(begin, now - 60, step)
            previous = end

    def test_no_error_reported(self):
        self.assertIsNone(self.loader.error_file('summary'))

    def test_loader_directory_not_on_sys_path(self):
        info = self.get('/env').json()
        path = info['sys_path']
        self.assertEqual(path[0], self.loader.app_root)
        self.assertNotIn(os.path.dirname(LOADER), path)
        self.assertTrue(info['main_thread'], 'process model serves in the main thread')

    def test_process_title(self):
        pid = int(self.get('/pid').body)
        with open('/proc/%d/comm' % pid) as f:
            comm = f.read().strip()
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmdline = f.read().decode('utf-8', 'replace')
        title = 'Ferry PythonApp: ' + self.loader.app_root
        # Without setproctitle only the 15-byte task name can be set.
        self.assertTrue(comm == title[:15] or title in cmdline, (comm, cmdline))


class RequestTests(SharedLoader):
    def test_hello(self):
        r = self.get('/hello')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.reason, 'OK')
        self.assertEqual(r.body, b'hello')
        self.assertEqual(r.header('Content-Length'), '5')
        self.assertIsNone(r.header('Transfer-Encoding'))

    def test_single_and_list_bodies_get_a_content_length(self):
        r = self.get('/single')
        self.assertEqual((r.header('Content-Length'), r.body, r.chunked), ('6', b'single', False))
        r = self.get('/list')
        self.assertEqual((r.header('Content-Length'), r.body, r.chunked), ('11', b'hello world', False))

    def test_environ(self):
        c = Client(self.loader.socket_path)
        c.send_request('GET', '/env', query='a=1&b=%20x', script_name='/mount',
                       headers={'HTTP_X_CUSTOM': 'caf\xe9', 'CONTENT_TYPE': 'text/x-test',
                                'HTTP_COOKIE': 'a=1; b=2'})
        info = c.read_response().json()
        c.close()
        env = info['str']
        self.assertEqual(env['REQUEST_METHOD'], 'GET')
        self.assertEqual(env['SCRIPT_NAME'], '/mount')
        self.assertEqual(env['PATH_INFO'], '/env')
        self.assertEqual(env['QUERY_STRING'], 'a=1&b=%20x')
        self.assertEqual(env['REQUEST_URI'], '/mount/env?a=1&b=%20x')
        self.assertEqual(env['SERVER_NAME'], 'localhost')
        self.assertEqual(env['SERVER_PORT'], '80')
        self.assertEqual(env['SERVER_PROTOCOL'], 'HTTP/1.1')
        self.assertEqual(env['REMOTE_ADDR'], '127.0.0.1')
        self.assertEqual(env['CONTENT_TYPE'], 'text/x-test')
        self.assertEqual(env['HTTP_COOKIE'], 'a=1; b=2')
        self.assertEqual(env['HTTP_X_CUSTOM'], 'caf\xe9')   # latin-1 decoded (PEP 3333)
        self.assertEqual(env['wsgi.url_scheme'], 'http')
        self.assertNotIn('PASSENGER_CONNECT_PASSWORD', env)
        self.assertNotIn('CONTENT_LENGTH', env)
        self.assertEqual(info['version'], [1, 0])
        self.assertIs(info['multithread'], False)
        self.assertIs(info['multiprocess'], True)
        self.assertIs(info['run_once'], False)
        self.assertIs(info['input_terminated'], True)
        self.assertIs(info['errors_is_stderr'], True)
        self.assertIs(info['has_file_wrapper'], True)
        self.assertEqual(info['non_str'], sorted([
            'wsgi.version', 'wsgi.input', 'wsgi.errors', 'wsgi.multithread', 'wsgi.multiprocess',
            'wsgi.run_once', 'wsgi.input_terminated', 'wsgi.file_wrapper']))

    def test_https(self):
        env = self.get('/env', headers={'HTTPS': 'on'}).json()['str']
        self.assertEqual(env['wsgi.url_scheme'], 'https')

    def test_content_length_body(self):
        data = pattern(3 * 1024 * 1024 + 17)
        for mode in ('read', 'read64', 'readline', 'readline-limited', 'iter', 'readlines', 'readinto'):
            r = self.loader.request('POST', '/echo', query='mode=' + mode, body=data)
            self.assertEqual(r.status, 200, (mode, r))
            info = r.json()
            self.assertEqual(info['length'], len(data), mode)
            self.assertEqual(info['sha256'], sha(data), mode)
            self.assertEqual(info['content_length'], str(len(data)))
            if info['lines'] is not None:
                self.assertEqual(info['lines'], data.count(b'\n') + (not data.endswith(b'\n')), mode)
            self.assertEqual(r.header('Connection'), 'close')

    def test_small_bodies(self):
        for data in (b'', b'x', b'a\nb', b'\n\n\n'):
            for mode in ('read', 'readline', 'readinto'):
                r = self.loader.request('POST', '/echo', query='mode=' + mode, body=data)
                self.assertEqual(r.json()['sha256'], sha(data), (data, mode))

    def test_body_not_read_by_the_app(self):
        r = self.loader.request('POST', '/echo', query='mode=none', body=b'q' * 10000)
        self.assertEqual(r.json()['length'], 0)
        self.assertEqual(self.get('/hello').body, b'hello')
        # A body too large to sit in the socket buffers: the loader answers and closes while
        # the sender is still writing; the response still arrives whole.
        c = Client(self.loader.socket_path)
        c.send_request('POST', '/echo', query='mode=none',
                       headers={'CONTENT_LENGTH': str(64 * 1024 * 1024)}, half_close=False)

        def send():
            try:
                c.sock.sendall(b'q' * (64 * 1024 * 1024))
            except OSError:
                pass
        sender = threading.Thread(target=send)
        sender.start()
        r = c.read_response()
        sender.join()
        c.close()
        self.assertEqual(r.json()['length'], 0)
        self.assertEqual(self.get('/hello').body, b'hello')

    def test_chunked_body(self):
        data = pattern(2 * 1024 * 1024 + 5)
        sizes = [1, 2, 3, 100, 4096, 65535, 65536, 65537, 300000]
        pieces = []
        pos = 0
        i = 0
        while pos < len(data):
            n = sizes[i % len(sizes)]
            pieces.append(data[pos:pos + n])
            pos += n
            i += 1
        for mode in ('read', 'read64', 'readline', 'readline-limited', 'iter', 'readlines', 'readinto'):
            r = self.loader.request('POST', '/echo', query='mode=' + mode, chunks=pieces,
                                    extension=(mode == 'read'), trailer=(mode == 'readline'))
            self.assertEqual(r.status, 200, (mode, r))
            info = r.json()
            self.assertEqual((info['length'], info['sha256']), (len(data), sha(data)), mode)
            self.assertIsNone(info['te'], 'HTTP_TRANSFER_ENCODING is removed')
            self.assertIsNone(info['content_length'])
            if info['lines'] is not None:
                self.assertEqual(info['lines'], data.count(b'\n') + (not data.endswith(b'\n')), mode)

    def test_empty_chunked_body(self):
        r = self.loader.request('POST', '/echo', query='mode=read', chunks=[])
        self.assertEqual(r.json()['length'], 0)

    def test_chunked_body_is_streamed_to_the_app(self):
        c = Client(self.loader.socket_path)
        c.send_request('POST', '/echo-lines', headers={'HTTP_TRANSFER_ENCODING': 'chunked'},
                       half_close=False)
        c.sock.sendall(b'6\r\nline1\n\r\n')
        status, _, headers = c.read_head()
        self.assertEqual(status, 200)
        self.assertEqual(c.read_chunk(), b'got line1\n')   # answered before the body ended
        c.sock.sendall(b'3\r\nlin\r\n')
        c.sock.sendall(b'3\r\ne2\n\r\n0\r\n\r\n')
        c.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(c.read_chunk(), b'got line2\n')
        self.assertEqual(c.read_chunk(), b'')
        self.assertTrue(c.at_eof())
        c.close()

    def test_malformed_chunked_body(self):
        c = Client(self.loader.socket_path)
        c.send_request('POST', '/echo', query='mode=read',
                       headers={'HTTP_TRANSFER_ENCODING': 'chunked'}, half_close=False)
        c.sock.sendall(b'zz\r\nnot hex\r\n0\r\n\r\n')
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        c.close()
        self.assertEqual(r.status, 500)
        self.assertTrue(self.loader.wait_output('malformed chunked request body'))

    def test_a_body_cut_short_raises_client_disconnected(self):
        # Issue 16: Ferry resets the connection when its client leaves mid-upload; wsgi.input
        # raises (an OSError, as mod_wsgi and gunicorn do), never returns a short body that
        # looks complete.
        for i, mode in enumerate(('read', 'read64', 'readline', 'readinto')):
            length = 1000 + i
            c = Client(self.loader.socket_path)
            c.send_request('POST', '/echo', query='mode=' + mode,
                           headers={'CONTENT_LENGTH': str(length)}, half_close=False)
            c.sock.sendall(b'x' * 500)
            c.sock.shutdown(socket.SHUT_RDWR)
            c.close()
            needle = 'went away before the request body was complete (500 of %d bytes)' % length
            self.assertTrue(self.loader.wait_output(needle), (mode, self.loader.read_output()))
        self.assertEqual(self.get('/hello').body, b'hello')

    def test_a_chunked_body_cut_short_raises_client_disconnected(self):
        c = Client(self.loader.socket_path)
        c.send_request('POST', '/echo', query='mode=read',
                       headers={'HTTP_TRANSFER_ENCODING': 'chunked'}, half_close=False)
        c.sock.sendall(b'5\r\nhello\r\n3\r\nab')
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        self.assertTrue(self.loader.wait_output('chunked request body ended before its last chunk'))

    def test_a_body_of_unknown_length_ends_at_end_of_input(self):
        # A transfer coding other than chunked: the body is what comes before the end of input,
        # which is then no error.
        c = Client(self.loader.socket_path)
        c.send_request('POST', '/echo', query='mode=read',
                       headers={'HTTP_TRANSFER_ENCODING': 'identity'}, half_close=False)
        c.sock.sendall(b'abc')
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        c.close()
        self.assertEqual(r.json()['length'], 3)

    def test_streaming_response(self):
        gate = self.gate_path('stream-gate')
        c = Client(self.loader.socket_path)
        c.send_request('GET', '/stream', query='gate=' + gate)
        status, _, headers = c.read_head()
        self.assertEqual(status, 200)
        self.assertIn(('Transfer-Encoding', 'chunked'), headers)
        self.assertEqual(c.read_chunk(), b'first\n')   # before the gate exists
        self.assertFalse(os.path.exists(gate))
        open(gate, 'w').close()
        self.assertEqual(c.read_chunk(), b'last\n')
        self.assertEqual(c.read_chunk(), b'')
        self.assertEqual(c.request('GET', '/hello').body, b'hello')   # kept
        c.close()

    def test_big_streamed_response(self):
        r = self.get('/big', query='n=%d' % (5 * 1024 * 1024 + 3))
        self.assertTrue(r.chunked)
        self.assertEqual(len(r.body), 5 * 1024 * 1024 + 3)
        self.assertEqual(r.body.count(b'z'), len(r.body))

    def test_write_callable(self):
        r = self.get('/write')
        self.assertEqual(r.body, b'one,two,three')
        self.assertTrue(r.chunked)
        r = self.get('/write-only')
        self.assertEqual((r.body, r.header('Content-Length'), r.chunked), (b'all', '3', False))

    def test_file_wrapper(self):
        with open(os.path.join(self.loader.app_root, 'data.bin'), 'rb') as f:
            data = f.read()
        r = self.get('/file')
        self.assertEqual(r.header('Content-Length'), str(len(data)))
        self.assertEqual(r.body, data)
        r = self.get('/file-offset')
        self.assertEqual(r.header('Content-Length'), str(len(data) - 1000))
        self.assertEqual(r.body, data[1000:])
        r = self.get('/file-nofileno')
        self.assertEqual(r.body, b'in memory ' * 1000)
        r = self.loader.request('HEAD', '/file')
        self.assertEqual((r.header('Content-Length'), r.body), (str(len(data)), b''))

    def closed(self):
        return self.get('/closed').json()

    def test_close_is_called(self):
        r = self.get('/tracked', query='name=normal')
        self.assertEqual(r.body, b'ab')
        self.assertIn('normal', self.closed())

    def test_close_is_called_when_iteration_fails_after_the_head(self):
        c = Client(self.loader.socket_path)
        c.send_request('GET', '/tracked-fail', query='name=late&at=1')
        status, _, headers = c.read_head()
        self.assertEqual(status, 200)
        self.assertEqual(c.read_chunk(), b'a')
        # The connection ends without the last chunk: Ferry sees a broken response.
        self.assertRaises(Incomplete, c.read_chunk)
        c.close()
        self.assertIn('late', self.closed())
        self.assertTrue(self.loader.wait_output('RuntimeError: boom-late'))

    def test_close_is_called_when_iteration_fails_before_the_head(self):
        r = self.get('/tracked-fail', query='name=early&at=0')
        self.assertEqual(r.status, 500)
        self.assertIn('early', self.closed())

    def test_close_is_called_when_the_client_disconnects(self):
        c = Client(self.loader.socket_path)
        c.send_request('GET', '/tracked', query='name=gone&n=4000')   # 250 MiB
        c.read_head()
        c.close()
        self.assertEqual(self.get('/hello').body, b'hello')   # the loader moved on
        self.assertIn('gone', self.closed())

    def test_cookies(self):
        r = self.get('/cookies')
        self.assertEqual(r.all('Set-Cookie'), ['a=1', 'b=2', 'c=3'])

    def test_head_request_has_no_body(self):
        c = Client(self.loader.socket_path)
        r = c.request('HEAD', '/hello')
        self.assertEqual((r.status, r.header('Content-Length')), (200, '5'))
        r = c.request('HEAD', '/single')
        self.assertEqual(r.header('Content-Length'), '6')
        # Nothing else was written: the next response on the same connection parses cleanly.
        self.assertEqual(c.request('GET', '/hello').body, b'hello')
        c.close()

    def test_204_and_304_have_no_body(self):
        c = Client(self.loader.socket_path)
        for code in (204, 304):
            r = c.request('GET', '/status', query='code=%d' % code)
            self.assertEqual(r.status, code)
            self.assertIsNone(r.header('Content-Length'))
            self.assertIsNone(r.header('Transfer-Encoding'))
        self.assertEqual(c.request('GET', '/hello').body, b'hello')
        c.close()
        r = self.get('/status', query='code=404')
        self.assertEqual((r.status, r.body), (404, b'body'))

    def test_exception_gives_500_and_a_traceback(self):
        r = self.get('/error')
        self.assertEqual(r.status, 500)
        self.assertEqual(r.body, b'Internal Server Error\n')
        self.assertEqual(r.header('Connection'), 'close')
        self.assertTrue(self.loader.wait_output('RuntimeError: boom-error'))
        out = self.loader.read_output()
        self.assertIn('Traceback (most recent call last)', out)
        self.assertIn('GET /error', out)
        r = self.loader.request('HEAD', '/error')
        self.assertEqual((r.status, r.body), (500, b''))
        r = self.get('/error-after-start')
        self.assertEqual(r.status, 500)

    def test_exc_info_replaces_the_status(self):
        r = self.get('/exc-info')
        self.assertEqual((r.status, r.body), (503, b'replaced'))

    def test_invalid_responses_give_500(self):
        for path in ('/bad-header', '/str-body'):
            c = Client(self.loader.socket_path)
            c.send_request('GET', path)
            r = c.read_response()
            rest = c.read_to_eof()
            c.close()
            self.assertEqual(r.status, 500, path)
            self.assertNotIn(b'Injected', rest)

    def test_body_shorter_than_content_length_closes_the_connection(self):
        c = Client(self.loader.socket_path)
        c.send_request('GET', '/short')
        status, _, headers = c.read_head()
        self.assertIn(('Content-Length', '10'), headers)
        self.assertEqual(c.read_to_eof(), b'12345')
        c.close()

    def test_empty_generator_gets_content_length_0(self):
        r = self.get('/empty-gen')
        self.assertEqual((r.header('Content-Length'), r.body), ('0', b''))

    def test_large_header(self):
        r = self.get('/large-header', query='size=60000')
        self.assertEqual(r.header('X-Large'), 'x' * 60000)
        self.assertEqual(r.body, b'ok')

    def test_keepalive(self):
        c = Client(self.loader.socket_path)
        pids = set()
        for _ in range(3):
            r = c.request('GET', '/pid')
            self.assertIsNone(r.header('Connection'))
            pids.add(r.body)
        self.assertEqual(len(pids), 1)
        r = c.request('GET', '/cookies')
        self.assertEqual(r.body, b'cookies')
        # Ferry hangs up: the loader closes quietly and serves other connections.
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(c.at_eof())
        c.close()
        self.assertEqual(self.get('/hello').body, b'hello')

    def test_requests_with_a_body_close_the_connection(self):
        c = Client(self.loader.socket_path)
        r = c.request('POST', '/echo', body=b'abc', half_close=False)
        self.assertEqual(r.header('Connection'), 'close')
        self.assertTrue(c.at_eof())
        c.close()

    def test_app_connection_close_is_honoured(self):
        c = Client(self.loader.socket_path)
        r = c.request('GET', '/conn-close')
        self.assertEqual(r.body, b'bye')
        self.assertEqual(r.all('Connection'), ['close'])
        self.assertTrue(c.at_eof())
        c.close()

    def test_new_connection_while_another_is_kept(self):
        kept = Client(self.loader.socket_path)
        self.assertEqual(kept.request('GET', '/hello').body, b'hello')
        # The only thread idles on `kept`; a fresh connection (say, Ferry's OOBW) still gets in.
        answer = self.raw([('REQUEST_METHOD', 'OOBW'), ('PASSENGER_CONNECT_PASSWORD', PASSWORD)])
        self.assertEqual(answer, b'oobw done')
        self.assertEqual(self.get('/hello').body, b'hello')
        self.assertTrue(kept.at_eof())
        kept.close()

    def raw(self, pairs, body=b''):
        c = Client(self.loader.socket_path)
        c.sock.sendall(frame(pairs) + body)
        answer = c.read_to_eof()
        c.close()
        return answer

    def test_ping(self):
        self.assertEqual(self.raw([('REQUEST_METHOD', 'PING')]), b'pong')
        self.assertEqual(self.raw([('REQUEST_METHOD', 'PING'), ('PASSENGER_CONNECT_PASSWORD', PASSWORD)]),
                         b'pong')

    def test_oobw(self):
        self.assertEqual(self.raw([('REQUEST_METHOD', 'OOBW'), ('PASSENGER_CONNECT_PASSWORD', PASSWORD)]),
                         b'oobw done')

    def test_wrong_or_missing_password_is_refused(self):
        pairs = request_env('GET', '/hello', headers={'PASSENGER_CONNECT_PASSWORD': 'wrongwrongwrong!'})
        self.assertEqual(self.raw(pairs), b'')
        pairs = request_env('GET', '/hello', headers={'PASSENGER_CONNECT_PASSWORD': None})
        self.assertEqual(self.raw(pairs), b'')
        self.assertEqual(self.get('/hello').body, b'hello')

    def test_oversized_frame_is_refused(self):
        c = Client(self.loader.socket_path)
        c.sock.sendall(b'\x7f\xff\xff\xff')
        self.assertTrue(c.at_eof())
        c.close()

    def test_truncated_frame(self):
        c = Client(self.loader.socket_path)
        c.sock.sendall(frame(request_env('GET', '/hello'))[:20])
        c.sock.shutdown(socket.SHUT_WR)
        self.assertTrue(c.at_eof())
        c.close()
        self.assertEqual(self.get('/hello').body, b'hello')

    def test_sigquit_dumps_stacks_and_goes_on(self):
        pid = int(self.get('/pid').body)
        os.kill(pid, signal.SIGQUIT)
        self.assertTrue(self.loader.wait_output('most recent call first'), self.loader.read_output())
        self.assertEqual(self.get('/hello').body, b'hello')


class LintTests(SharedLoader):
    """The same app wrapped in wsgiref.validate: the loader's environ and calls are compliant."""
    env = {'TEST_LINT': '1'}

    def assertOk(self, r):
        self.assertLess(r.status, 400, (r, self.loader.read_output()))

    def test_endpoints_pass_validation(self):
        for path in ('/hello', '/single', '/list', '/env', '/write', '/file', '/file-nofileno',
                     '/cookies', '/big', '/empty-gen'):
            r = self.get(path, query='n=100000' if path == '/big' else '')
            self.assertOk(r)
        for code in ('204', '304'):
            self.assertOk(self.get('/status', query='code=' + code))
        self.assertOk(self.loader.request('HEAD', '/hello'))
        gate = self.gate_path('lint-gate')
        open(gate, 'w').close()
        self.assertEqual(self.get('/stream', query='gate=' + gate).body, b'first\nlast\n')

    def test_bodies_pass_validation(self):
        data = pattern(300000)
        for mode in ('read64', 'readline', 'readlines', 'iter'):
            r = self.loader.request('POST', '/echo', query='mode=' + mode, body=data)
            self.assertOk(r)
            self.assertEqual(r.json()['sha256'], sha(data))
            r = self.loader.request('POST', '/echo', query='mode=' + mode,
                                    chunks=[data[:1000], data[1000:]])
            self.assertOk(r)
            self.assertEqual(r.json()['sha256'], sha(data))
        self.assertNotIn('WSGIWarning', self.loader.read_output())


class ThreadModelTests(SharedLoader):
    args = {'concurrency_model': 'thread', 'thread_count': 4}

    def test_concurrency_is_advertised(self):
        self.assertEqual(self.loader.properties()['sockets'][0]['concurrency'], 4)
        self.assertIs(self.get('/env').json()['multithread'], True)

    def test_four_requests_in_parallel(self):
        # The app's Barrier(4) lets requests through only when four wait at once.
        results = [None] * 4

        def run(i):
            try:
                results[i] = self.get('/barrier')
            except Exception as e:
                results[i] = e
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in results:
            self.assertEqual(getattr(r, 'status', r), 200, r)
            self.assertTrue(r.body.startswith(b'passed'), r)
        self.assertEqual(len(set(r.body.split()[-1] for r in results)), 4)

    def test_new_connection_while_every_thread_keeps_one(self):
        kept = [Client(self.loader.socket_path) for _ in range(4)]
        for c in kept:
            self.assertEqual(c.request('GET', '/hello').body, b'hello')
        # Every worker idles on a kept connection; a fifth connection is still served.
        self.assertEqual(self.get('/hello').body, b'hello')
        for c in kept:
            c.close()


class LifecycleTests(unittest.TestCase):
    def start(self, source=None, **kw):
        if source is None:
            kw.setdefault('app_dir', SINK)
        loader = Loader(source, **kw)
        self.addCleanup(loader.cleanup)
        return loader

    def test_stdin_eof_is_a_graceful_stop(self):
        marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), '.atexit-%d' % os.getpid())
        self.addCleanup(lambda: os.path.exists(marker) and os.unlink(marker))
        loader = self.start(env={'TEST_ATEXIT_MARKER': marker}).ready()
        path = loader.socket_path
        self.assertEqual(loader.request('GET', '/hello').body, b'hello')
        kept = loader.connect()   # an idle kept connection does not hold the stop up
        kept.request('GET', '/hello')
        self.assertEqual(loader.stop(), 0)
        self.assertTrue(os.path.exists(marker), 'atexit handlers ran')
        self.assertFalse(os.path.exists(path), 'socket removed')
        self.assertTrue(kept.at_eof())
        kept.close()

    def test_stdin_eof_lets_requests_in_progress_finish(self):
        for args in ({}, {'concurrency_model': 'thread', 'thread_count': 3}):
            loader = self.start(args=args).ready()
            gate = os.path.join(loader.tmp, 'gate')
            c = loader.connect()
            c.send_request('GET', '/stream', query='gate=' + gate)
            c.read_head()
            self.assertEqual(c.read_chunk(), b'first\n')
            loader.close_stdin()
            open(gate, 'w').close()
            self.assertEqual(c.read_chunk(), b'last\n')
            self.assertEqual(c.read_chunk(), b'')
            c.close()
            self.assertEqual(loader.wait(), 0, args)

    def test_thread_model_graceful_stop(self):
        marker = os.path.join(os.path.dirname(os.path.abspath(__file__)), '.atexit-t-%d' % os.getpid())
        self.addCleanup(lambda: os.path.exists(marker) and os.unlink(marker))
        loader = self.start(env={'TEST_ATEXIT_MARKER': marker},
                            args={'concurrency_model': 'thread', 'thread_count': 4}).ready()
        kept = [loader.connect() for _ in range(2)]
        for c in kept:
            c.request('GET', '/hello')
        self.assertEqual(loader.stop(), 0)
        self.assertTrue(os.path.exists(marker))
        for c in kept:
            c.close()

    def test_sigterm_exits_promptly(self):
        loader = self.start().ready()
        path = loader.socket_path
        c = loader.connect()
        c.send_request('GET', '/stream', query='gate=/nonexistent/gate')
        c.read_head()
        started = time.monotonic()
        os.kill(loader.proc.pid, signal.SIGTERM)
        code = loader.wait(10)
        self.assertLess(time.monotonic() - started, 5)
        self.assertEqual(code, -signal.SIGTERM)
        self.assertFalse(os.path.exists(path))
        c.close()

    def test_keepalive_false(self):
        loader = self.start(args={'keepalive': False}).ready()
        c = loader.connect()
        r = c.request('GET', '/hello')
        self.assertEqual(r.header('Connection'), 'close')
        self.assertTrue(c.at_eof())
        c.close()

    def test_custom_startup_file(self):
        source = ("def application(environ, start_response):\n"
                  "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                  "    return [__name__.encode()]\n")
        loader = self.start(files={'app.wsgi': source},
                            args={'startup_file': 'app.wsgi'}).ready()
        self.assertEqual(loader.request('GET', '/').body, b'passenger_wsgi')

    def test_app_default_socket_timeout_does_not_apply(self):
        source = ("import socket\n"
                  "socket.setdefaulttimeout(0.2)\n"
                  "def application(environ, start_response):\n"
                  "    body = environ['wsgi.input'].read()\n"
                  "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                  "    return [body]\n")
        for args in ({}, {'concurrency_model': 'thread', 'thread_count': 2}):
            loader = self.start(source, args=args).ready()
            c = loader.connect()
            c.send_request('POST', '/', headers={'CONTENT_LENGTH': '10'}, half_close=False)
            c.sock.sendall(b'12345')
            time.sleep(0.5)   # a slow sender, slower than the app's default socket timeout
            c.sock.sendall(b'67890')
            r = c.read_response()
            c.close()
            self.assertEqual((r.status, r.body), (200, b'1234567890'), loader.read_output())

    def test_no_password_configured(self):
        loader = self.start(args={'connect_password': None}).ready()
        c = Client(loader.socket_path)
        r = c.request('GET', '/env', headers={'PASSENGER_CONNECT_PASSWORD': None})
        self.assertEqual(r.status, 200)
        self.assertNotIn('PASSENGER_CONNECT_PASSWORD', r.json()['str'])
        c.close()

    def test_system_exit_in_a_worker_thread_stops_the_process(self):
        loader = self.start(args={'concurrency_model': 'thread', 'thread_count': 2}).ready()
        c = loader.connect()
        c.send_request('GET', '/exit')
        self.assertTrue(c.at_eof())
        c.close()
        self.assertEqual(loader.wait(), 0)
        self.assertIn('SystemExit', loader.read_output())

    # --- start-up failures ---

    def assertSpawnError(self, loader, step='subprocess_app_load_or_exec'):
        self.assertIsNone(loader.wait_finish(), 'no finish written')
        self.assertNotEqual(loader.wait(), 0)
        self.assertEqual(loader.step(step, 'state'), 'STEP_ERRORED')
        self.assertIsNotNone(loader.step(step, 'end_time_monotonic'))
        index = STEPS.index(step)
        for before in STEPS[:index]:
            self.assertEqual(loader.step(before, 'state'), 'STEP_PERFORMED', before)
        for after in STEPS[index + 1:]:
            self.assertIsNone(loader.step(after, 'state'), after)
        self.assertIn(loader.app_root, loader.annotation('python_path'))
        self.assertIn('Python version', loader.annotation('python_info'))
        self.assertEqual(os.listdir(loader.socket_dir), [])
        return loader.error_file('summary')

    def test_syntax_error(self):
        loader = self.start('def application(environ, start_response:\n    pass\n')
        summary = self.assertSpawnError(loader)
        self.assertTrue(summary.startswith('The application encountered the following error: '), summary)
        self.assertTrue(summary.endswith('(SyntaxError)'), summary)
        self.assertNotIn('\n', summary)
        self.assertEqual(loader.error_file('category'), 'INTERNAL_ERROR')
        self.assertIn('passenger_wsgi.py', loader.error_file('advanced_problem_details'))
        self.assertIn('SyntaxError', loader.read_output())

    def test_exception_while_loading(self):
        loader = self.start('import sys\nx = 1\nraise ValueError("no config for %s" % "prod")\n')
        summary = self.assertSpawnError(loader)
        self.assertEqual(summary, 'The application encountered the following error: '
                                  'no config for prod (ValueError)')
        details = loader.error_file('advanced_problem_details')
        self.assertIn('Traceback', details)
        self.assertIn('line 3', details)

    def test_os_error_while_loading(self):
        loader = self.start('open("/nonexistent/ferry/config")\n')
        summary = self.assertSpawnError(loader)
        self.assertIn('(FileNotFoundError)', summary)
        self.assertEqual(loader.error_file('category'), 'OPERATING_SYSTEM_ERROR')

    def test_missing_application(self):
        loader = self.start('app = None\n')
        summary = self.assertSpawnError(loader)
        self.assertIn(os.path.join(loader.app_root, 'passenger_wsgi.py'), summary)
        self.assertIn('must define', summary)
        self.assertIn('`application`', summary)
        self.assertIn('application', loader.error_file('solution_description.txt'))

    def test_application_not_callable(self):
        loader = self.start('application = 42\n')
        summary = self.assertSpawnError(loader)
        self.assertIn('not callable', summary)

    def test_missing_startup_file(self):
        loader = self.start(args={'startup_file': 'nothere.py'})
        summary = self.assertSpawnError(loader)
        self.assertIn('nothere.py', summary)

    def test_exit_while_loading(self):
        loader = self.start('import sys\nsys.exit(4)\n')
        summary = self.assertSpawnError(loader)
        self.assertIn('SystemExit', summary)

    def test_unusable_socket_dir(self):
        loader = self.start(args={'socket_dir': '/nonexistent/ferry/sockets'})
        # The listen step fails; the socket dir of the harness stays empty.
        self.assertSpawnError(loader, step='subprocess_listen')
        self.assertEqual(loader.error_file('category'), 'OPERATING_SYSTEM_ERROR')


if __name__ == '__main__':
    unittest.main()
