# test_asgi.py: asgi-loader.py against loaders/PROTOCOL.md and the ASGI 3 spec. Every event type
# of the HTTP, WebSocket and lifespan scopes is exercised with a raw ASGI app
# (crates/ferry-test-support/apps/asgi-stub/asgi.py), spoken to in the `session` protocol as
# Ferry speaks it.

import json
import os
import shutil
import signal
import socket
import struct
import tempfile
import time
import unittest

from harness import APPS, ASGI_LOADER, LOADER, PASSWORD, Loader, request_env

with open(os.path.join(APPS, 'asgi-stub', 'asgi.py')) as f:
    CONFORMANCE = f.read()


def start(record=None, lifespan='', args=None, source=CONFORMANCE, startup='asgi.py',
          loader=ASGI_LOADER):
    env = {'ASGI_LIFESPAN': lifespan}
    if record is not None:
        env['ASGI_RECORD_DIR'] = record
    all_args = {'startup_file': startup}
    all_args.update(args or {})
    return Loader(files={startup.split(':')[0]: source}, args=all_args, env=env, loader=loader)


def wait_for(path, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path):
            with open(path) as f:
                return json.load(f)
        time.sleep(0.02)
    raise AssertionError('%s was never written' % path)


class WebSocketClient(object):
    """A WebSocket over the session protocol: the upgrade frame, then RFC 6455 frames."""

    def __init__(self, loader, path, protocols=None, key='dGhlIHNhbXBsZSBub25jZQ=='):
        self.client = loader.connect()
        headers = {'HTTP_CONNECTION': 'upgrade', 'HTTP_UPGRADE': 'websocket',
                   'HTTP_SEC_WEBSOCKET_VERSION': '13', 'HTTP_SEC_WEBSOCKET_KEY': key}
        if protocols:
            headers['HTTP_SEC_WEBSOCKET_PROTOCOL'] = protocols
        self.client.send_request('GET', path, headers=headers)
        self.status, self.reason, self.headers = self.client.read_head()

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def send(self, opcode, payload, fin=True, mask=b'\x01\x02\x03\x04'):
        n = len(payload)
        first = (0x80 if fin else 0) | opcode
        if n < 126:
            head = struct.pack('!BB', first, 0x80 | n)
        elif n < 65536:
            head = struct.pack('!BBH', first, 0x80 | 126, n)
        else:
            head = struct.pack('!BBQ', first, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.client.sock.sendall(head + mask + masked)

    def recv(self):
        """(opcode, payload) of the next frame from the loader (never masked)."""
        b0, b1 = self.client.read_exact(2)
        assert not b1 & 0x80, 'a server frame must not be masked'
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack('!H', self.client.read_exact(2))[0]
        elif n == 127:
            n = struct.unpack('!Q', self.client.read_exact(8))[0]
        return b0 & 0x0f, self.client.read_exact(n)

    def close(self):
        self.client.close()


class AsgiTestCase(unittest.TestCase):
    lifespan = ''
    args = None

    def setUp(self):
        self.record = tempfile.mkdtemp(prefix='ferry-asgi-record-')
        self.loader = start(self.record, self.lifespan, self.args).ready()

    def tearDown(self):
        self.loader.cleanup()
        shutil.rmtree(self.record, ignore_errors=True)

    def recorded(self, name):
        return wait_for(os.path.join(self.record, name))


class TestHandshake(AsgiTestCase):
    args = {'asgi_concurrency': 7}

    def test_reports_a_session_socket_with_its_concurrency(self):
        socket_ = self.loader.properties()['sockets'][0]
        self.assertEqual(socket_['protocol'], 'session')
        self.assertEqual(socket_['concurrency'], 7)
        self.assertTrue(socket_['accept_http_requests'])
        self.assertEqual(os.stat(self.loader.socket_path).st_mode & 0o777, 0o600)
        for step in ('subprocess_exec_wrapper', 'subprocess_wrapper_preparation',
                     'subprocess_app_load_or_exec', 'subprocess_listen'):
            self.assertEqual(self.loader.step(step, 'state'), 'STEP_PERFORMED', step)

    def test_ping_and_oobw(self):
        client = self.loader.connect()
        client.send_request('PING', '/', raw_pairs=[('REQUEST_METHOD', 'PING')])
        self.assertEqual(client.read_to_eof(), b'pong')
        client = self.loader.connect()
        client.send_request('OOBW', '/', raw_pairs=[('REQUEST_METHOD', 'OOBW'),
                                                    ('PASSENGER_CONNECT_PASSWORD', PASSWORD)])
        self.assertEqual(client.read_to_eof(), b'oobw done')

    def test_promote_is_declined_and_the_worker_serves_on(self):
        # Re-forking is not offered for ASGI apps (PROTOCOL.md section 6.4): the answer says so,
        # and the app never sees a PROMOTE request.
        client = self.loader.connect()
        client.send_request('PROMOTE', '/', raw_pairs=[('REQUEST_METHOD', 'PROMOTE'),
                                                       ('PASSENGER_CONNECT_PASSWORD', PASSWORD)])
        answer = json.loads(client.read_to_eof().decode())
        self.assertEqual(answer['result'], 'error')
        self.assertIn('ASGI', answer['message'])
        self.assertEqual(self.loader.request('GET', '/hello').body, b'hello world')

    def test_sigquit_prints_the_threads_and_the_tasks_and_goes_on(self):
        client = self.loader.connect()
        client.send_request('GET', '/sleep', query='s=1')   # a task that waits
        self.recorded('sleeping')
        os.kill(self.loader.proc.pid, signal.SIGQUIT)
        output = self.loader.read_output
        self.assertTrue(self.loader.wait_output('most recent call first'), output())
        self.assertTrue(self.loader.wait_output('Asyncio tasks (SIGQUIT)'), output())
        # The sleeping request's whole await chain, down to asyncio.sleep.
        self.assertTrue(self.loader.wait_output(', in http\n'), output())
        self.assertTrue(self.loader.wait_output(', in sleep\n'), output())
        self.assertEqual(client.read_response().body, b'slept')
        self.assertEqual(self.loader.request('GET', '/hello').body, b'hello world')

    def test_a_frame_without_the_password_is_refused(self):
        client = self.loader.connect()
        pairs = [p for p in request_env('GET', '/hello') if p[0] != 'PASSENGER_CONNECT_PASSWORD']
        client.send_request('GET', '/hello', raw_pairs=pairs)
        self.assertTrue(client.at_eof())


class TestHttp(AsgiTestCase):
    def test_response_start_and_body(self):
        r = self.loader.request('GET', '/hello')
        self.assertEqual(r.status, 200)
        self.assertEqual(r.reason, 'OK')
        self.assertEqual(r.body, b'hello world')
        self.assertEqual(r.header('Content-Length'), '11')
        self.assertEqual(r.header('Content-Type'), 'text/plain')

    def test_http2_requests_say_so(self):
        # Issue 19, TLS: Ferry sends SERVER_PROTOCOL HTTP/2.0 for a request that came over h2.
        client = self.loader.connect()
        r = client.request('GET', '/scope', headers={'SERVER_PROTOCOL': 'HTTP/2.0', 'HTTPS': 'on'})
        scope = r.json()
        self.assertEqual(scope['http_version'], '2')
        self.assertEqual(scope['scheme'], 'https')

    def test_scope(self):
        client = self.loader.connect()
        r = client.request('GET', '/scope', query='a=1&b=%20x', script_name='/sub',
                           headers={'HTTP_X_FERRY_TEST': 'yes', 'HTTP_COOKIE': 'c=1',
                                    'HTTPS': 'on', 'REMOTE_PORT': '4321',
                                    'CONTENT_TYPE': 'text/x-test'})
        scope = r.json()
        self.assertEqual(scope['type'], 'http')
        self.assertEqual(scope['asgi'], {'version': '3.0', 'spec_version': '2.3'})
        self.assertEqual(scope['http_version'], '1.1')
        self.assertEqual(scope['method'], 'GET')
        self.assertEqual(scope['scheme'], 'https')
        self.assertEqual(scope['root_path'], '/sub')
        self.assertEqual(scope['path'], '/sub/scope')   # the full path, as Starlette and Django expect
        self.assertEqual(scope['raw_path'], '/sub/scope')
        self.assertEqual(scope['query_string'], 'a=1&b=%20x')
        self.assertEqual(scope['client'], ['127.0.0.1', 4321])
        self.assertEqual(scope['server'], ['localhost', 80])
        headers = dict((k, v) for k, v in scope['headers'])
        self.assertEqual(headers['x-ferry-test'], 'yes')
        self.assertEqual(headers['cookie'], 'c=1')
        self.assertEqual(headers['host'], 'localhost')
        self.assertEqual(headers['content-type'], 'text/x-test')
        self.assertNotIn('passenger-connect-password', headers)
        self.assertEqual(scope['state'], {'started': 'yes', 'pid': scope['pid']})
        self.assertEqual(scope['extensions'], {'http.response.pathsend': {}})

    def test_path_is_percent_decoded_raw_path_is_not(self):
        scope = self.loader.request('GET', '/a%20b/%C3%A9/scope').json()
        self.assertEqual(scope['path'], '/a b/\u00e9/scope')
        self.assertEqual(scope['raw_path'], '/a%20b/%C3%A9/scope')

    def test_request_body_of_known_length(self):
        body = os.urandom(300000)
        r = self.loader.request('POST', '/echo', body=body)
        self.assertEqual(r.body, body)
        messages = json.loads(r.header('X-Messages'))
        self.assertEqual(sum(m[0] for m in messages), len(body))
        self.assertFalse(messages[-1][1])
        self.assertTrue(all(m[1] for m in messages[:-1]))

    def test_request_body_arrives_as_it_comes(self):
        # The app gets a first http.request with more_body while the rest is not sent yet.
        client = self.loader.connect()
        client.send_request('POST', '/echo', headers={'CONTENT_LENGTH': '10'}, half_close=False)
        client.sock.sendall(b'12345')
        time.sleep(0.2)   # let the first part reach the app on its own (not what is asserted)
        client.sock.sendall(b'67890')
        client.sock.shutdown(socket.SHUT_WR)
        r = client.read_response()
        self.assertEqual(r.body, b'1234567890')
        self.assertGreaterEqual(len(json.loads(r.header('X-Messages'))), 1)

    def test_chunked_request_body(self):
        pieces = [b'a' * 10, b'b' * 70000, b'c']
        r = self.loader.request('POST', '/echo', chunks=pieces, extension=True, trailer=True)
        self.assertEqual(r.body, b''.join(pieces))

    def test_empty_body(self):
        r = self.loader.request('POST', '/echo', body=b'')
        self.assertEqual(r.body, b'')
        self.assertEqual(json.loads(r.header('X-Messages')), [[0, False]])

    def test_bodiless_request_gets_one_empty_message(self):
        r = self.loader.request('GET', '/echo')
        self.assertEqual(json.loads(r.header('X-Messages')), [[0, False]])

    def test_streamed_response_is_chunked(self):
        r = self.loader.request('GET', '/stream')
        self.assertTrue(r.chunked)
        self.assertEqual(r.body, b'one\ntwo\n')

    def test_streamed_response_with_its_own_length(self):
        r = self.loader.request('GET', '/stream-length')
        self.assertFalse(r.chunked)
        self.assertEqual(r.body, b'12345678')

    def test_head_request_has_no_body(self):
        client = self.loader.connect()
        r = client.request('HEAD', '/hello')
        self.assertEqual(r.header('Content-Length'), '11')
        self.assertEqual(client.buf, b'')

    def test_keep_alive(self):
        client = self.loader.connect()
        for _ in range(3):
            r = client.request('GET', '/hello')
            self.assertEqual(r.body, b'hello world')
            self.assertIsNone(r.header('Connection'))

    def test_request_with_body_closes(self):
        client = self.loader.connect()
        r = client.request('POST', '/echo', body=b'x')
        self.assertEqual(r.header('Connection'), 'close')
        self.assertTrue(client.at_eof())

    def test_pathsend(self):
        path = os.path.join(self.record, 'file.bin')
        data = os.urandom(600000)
        with open(path, 'wb') as f:
            f.write(data)
        r = self.loader.request('GET', '/pathsend', query='file=' + path)
        self.assertEqual(r.header('Content-Length'), str(len(data)))
        self.assertEqual(r.body, data)

    def test_exception_before_start_is_a_500(self):
        client = self.loader.connect()
        r = client.request('GET', '/error')
        self.assertEqual(r.status, 500)
        self.assertTrue(client.at_eof())
        self.assertTrue(self.loader.wait_output('the app failed'))

    def test_exception_mid_response_cuts_it(self):
        client = self.loader.connect()
        client.send_request('GET', '/error-after-start')
        status, _, headers = client.read_head()
        self.assertEqual(status, 200)
        data = client.read_to_eof()
        self.assertNotIn(b'0\r\n\r\n', data)   # never the chunked body's end
        self.assertTrue(self.loader.wait_output('the app failed mid-response'))

    def test_no_response_is_a_500(self):
        self.assertEqual(self.loader.request('GET', '/no-response').status, 500)

    def test_header_injection_is_refused(self):
        client = self.loader.connect()
        r = client.request('GET', '/bad-header')
        self.assertEqual(r.status, 500)
        self.assertIsNone(r.header('Injected'))

    def test_disconnect_mid_stream(self):
        # A bodiless request: Ferry closing the connection is end-of-file.
        client = self.loader.connect()
        client.send_request('GET', '/wait-disconnect', query='id=get')
        client.read_head()
        self.assertEqual(client.read_chunk(), b'first\n')
        client.close()
        self.assertEqual(self.recorded('disconnect-get'), {'type': 'http.disconnect'})

    def test_disconnect_after_a_request_body(self):
        # After a body Ferry half-closes: end-of-file is expected, the full close is a hang-up.
        client = self.loader.connect()
        client.send_request('POST', '/wait-disconnect', query='id=post', body=b'data')
        client.read_head()
        self.assertEqual(client.read_chunk(), b'first\n')
        client.close()
        self.assertEqual(self.recorded('disconnect-post'), {'type': 'http.disconnect'})

    def test_receive_after_the_response_is_a_disconnect(self):
        self.assertEqual(self.loader.request('GET', '/after-response').body, b'done')
        self.assertEqual(self.recorded('after-response'), {'type': 'http.disconnect'})

    def test_many_requests_at_once_in_one_process(self):
        clients = [self.loader.connect() for _ in range(5)]
        for c in clients:
            c.send_request('GET', '/gate', query='name=five&n=5')
        pids = set(c.read_response().body for c in clients)
        self.assertEqual(len(pids), 1)


class TestWebSocket(AsgiTestCase):
    def test_connect_accept_receive_send_disconnect(self):
        ws = WebSocketClient(self.loader, '/ws', protocols='chat, other')
        self.assertEqual(ws.status, 101)
        self.assertEqual(ws.header('Sec-WebSocket-Accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=')
        self.assertEqual(ws.header('Sec-WebSocket-Protocol'), 'chat')
        self.assertEqual(ws.header('Upgrade').lower(), 'websocket')
        self.assertEqual(ws.header('X-Ws'), 'yes')
        ws.send(0x1, 'héllo'.encode())
        self.assertEqual(ws.recv(), (0x1, 'héllo'.encode()))
        big = os.urandom(70000)
        ws.send(0x2, big)
        self.assertEqual(ws.recv(), (0x2, big))
        ws.send(0x1, b'frag', fin=False)
        ws.send(0x9, b'ping!')                    # a control frame between fragments
        self.assertEqual(ws.recv(), (0xA, b'ping!'))
        ws.send(0x0, b'mented')
        self.assertEqual(ws.recv(), (0x1, b'fragmented'))
        ws.send(0x8, struct.pack('!H', 1001) + b'going')
        self.assertEqual(ws.recv(), (0x8, struct.pack('!H', 1001)))
        self.assertTrue(ws.client.at_eof())
        self.assertEqual(self.recorded('ws-disconnect'),
                         {'type': 'websocket.disconnect', 'code': 1001, 'reason': 'going'})

    def test_connection_lost_is_1006(self):
        ws = WebSocketClient(self.loader, '/ws')
        ws.send(0x1, b'x')
        self.assertEqual(ws.recv(), (0x1, b'x'))
        ws.close()
        self.assertEqual(self.recorded('ws-disconnect')['code'], 1006)

    def test_scope(self):
        ws = WebSocketClient(self.loader, '/ws-scope', protocols='a,b')
        opcode, payload = ws.recv()
        scope = json.loads(payload)
        self.assertEqual(scope['type'], 'websocket')
        self.assertEqual(scope['scheme'], 'ws')
        self.assertEqual(scope['subprotocols'], ['a', 'b'])
        self.assertEqual(scope['asgi'], {'version': '3.0', 'spec_version': '2.4'})
        self.assertEqual(scope['extensions'], {'websocket.http.response': {}})

    def test_close_from_the_app(self):
        ws = WebSocketClient(self.loader, '/ws-close')
        self.assertEqual(ws.recv(), (0x8, struct.pack('!H', 4001) + b'bye'))
        ws.send(0x8, struct.pack('!H', 4001))
        self.assertTrue(ws.client.at_eof())

    def test_close_before_accept_is_403(self):
        ws = WebSocketClient(self.loader, '/ws-deny')
        self.assertEqual(ws.status, 403)

    def test_denial_response(self):
        ws = WebSocketClient(self.loader, '/ws-http')
        self.assertEqual(ws.status, 401)
        self.assertEqual(ws.client.read_exact(int(ws.header('Content-Length'))), b'no entry')

    def test_unmasked_frame_is_a_protocol_error(self):
        ws = WebSocketClient(self.loader, '/ws')
        ws.client.sock.sendall(b'\x81\x01x')
        self.assertEqual(ws.recv()[1][:2], struct.pack('!H', 1002))

    def test_invalid_utf8_is_1007(self):
        ws = WebSocketClient(self.loader, '/ws')
        ws.send(0x1, b'\xff\xfe')
        self.assertEqual(ws.recv()[1][:2], struct.pack('!H', 1007))

    def test_missing_key_is_400(self):
        client = self.loader.connect()
        client.send_request('GET', '/ws', headers={'HTTP_UPGRADE': 'websocket',
                                                   'HTTP_CONNECTION': 'upgrade'})
        self.assertEqual(client.read_head()[0], 400)


class TestLifespan(unittest.TestCase):
    def setUp(self):
        self.record = tempfile.mkdtemp(prefix='ferry-asgi-record-')

    def tearDown(self):
        shutil.rmtree(self.record, ignore_errors=True)

    def test_startup_before_finish_and_shutdown_on_stdin_eof(self):
        loader = start(self.record).ready()
        try:
            self.assertTrue(os.path.exists(os.path.join(self.record, 'startup')))
            self.assertFalse(os.path.exists(os.path.join(self.record, 'shutdown')))
            # A request in progress when the stop comes still gets its answer.
            client = loader.connect()
            client.send_request('GET', '/sleep', query='s=0.3')
            wait_for(os.path.join(self.record, 'sleeping'))
            loader.close_stdin()
            self.assertEqual(client.read_response().body, b'slept')
            self.assertEqual(loader.wait(), 0)
            self.assertEqual(wait_for(os.path.join(self.record, 'shutdown')), loader.proc.pid)
            self.assertFalse(os.path.exists(loader.socket_path))
        finally:
            loader.cleanup()

    def test_shutdown_failed_is_logged_and_the_process_still_exits(self):
        loader = start(self.record, 'shutdown-failed').ready()
        try:
            self.assertEqual(loader.request('GET', '/hello').body, b'hello world')
            self.assertEqual(loader.stop(), 0)
            self.assertEqual(wait_for(os.path.join(self.record, 'shutdown')), loader.proc.pid)
            output = loader.read_output()
            self.assertIn('lifespan shutdown failed', output)
            self.assertIn('could not flush the cache', output)
        finally:
            loader.cleanup()

    def check_spawn_error(self, lifespan, *needles):
        loader = start(self.record, lifespan)
        try:
            self.assertIsNone(loader.wait_finish())
            self.assertNotEqual(loader.wait(), 0)
            self.assertEqual(loader.step('subprocess_listen', 'state'), 'STEP_ERRORED')
            summary = loader.error_file('summary')
            details = loader.error_file('advanced_problem_details')
            for needle in needles:
                self.assertIn(needle, summary + details)
            self.assertIn('lifespan', loader.error_file('problem_description.txt'))
            return details
        finally:
            loader.cleanup()

    def test_startup_failed(self):
        self.check_spawn_error('failed', 'the database is unreachable')

    def test_startup_that_raises(self):
        details = self.check_spawn_error('raise', 'lifespan startup went wrong', 'RuntimeError')
        self.assertIn('Traceback', details)
        self.assertIn('asgi.py', details)

    def test_app_without_lifespan_still_serves(self):
        loader = start(self.record, 'unsupported').ready()
        try:
            scope = loader.request('GET', '/scope').json()
            self.assertEqual(scope['state'], {})
            self.assertEqual(loader.stop(), 0)
        finally:
            loader.cleanup()


class TestPreloader(unittest.TestCase):
    """Smart spawning: the preloader imports the app (no lifespan, no event loop there); each
    forked worker runs its own lifespan startup and serves."""

    def setUp(self):
        self.record = tempfile.mkdtemp(prefix='ferry-asgi-record-')
        self.loader = start(self.record, args={'preloader': True, 'spawn_method': 'smart',
                                               'process_title': 'Ferry AppPreloader'}).ready()
        self.workers = []

    def tearDown(self):
        for worker in self.workers:
            worker.cleanup()
        self.loader.cleanup()
        shutil.rmtree(self.record, ignore_errors=True)

    def test_workers_run_their_own_lifespan(self):
        from test_preloader import Worker
        self.assertEqual(self.loader.properties()['sockets'][0]['protocol'], 'preloader')
        self.assertFalse(os.path.exists(os.path.join(self.record, 'startup')))
        worker = Worker(self.loader)
        self.workers.append(worker)
        worker.ready()
        self.assertEqual(wait_for(os.path.join(self.record, 'startup')), worker.pid)
        scope = worker.get('/scope').json()
        self.assertEqual(scope['pid'], worker.pid)
        self.assertEqual(scope['state']['pid'], worker.pid)
        self.assertEqual(worker.step('subprocess_listen'), 'STEP_PERFORMED')
        worker.stop()
        self.assertEqual(wait_for(os.path.join(self.record, 'shutdown')), worker.pid)


class TestLoading(unittest.TestCase):
    def test_file_colon_name(self):
        source = ('async def main(scope, receive, send):\n'
                  '    if scope["type"] != "http": return\n'
                  '    await send({"type": "http.response.start", "status": 200})\n'
                  '    await send({"type": "http.response.body", "body": __name__.encode()})\n')
        loader = start(source=source, startup='main.py:main').ready()
        try:
            self.assertEqual(loader.request('GET', '/').body, b'main')   # imported as `main`
        finally:
            loader.cleanup()

    def test_an_app_that_is_not_asgi_3_is_a_spawn_error(self):
        source = 'def app(environ, start_response):\n    return [b"wsgi"]\n'
        loader = start(source=source, startup='main.py:app')
        try:
            self.assertIsNone(loader.wait_finish())
            self.assertIn('cannot be called as an ASGI 3 app', loader.error_file('summary'))
            self.assertIn('--app-type python', loader.error_file('solution_description.txt'))
        finally:
            loader.cleanup()

    def test_missing_callable(self):
        loader = start(source='x = 1\n')
        try:
            self.assertIsNone(loader.wait_finish())
            self.assertIn('neither `application` nor `app`', loader.error_file('summary'))
        finally:
            loader.cleanup()

    def test_asgi_app_in_passenger_wsgi_py(self):
        # wsgi-loader.py finds an ASGI `app` and hands over to asgi-loader.py.
        source = CONFORMANCE.replace('async def application(', 'async def app(')
        loader = start(source=source, startup='passenger_wsgi.py', loader=LOADER,
                       args={'asgi_concurrency': 9}).ready()
        try:
            self.assertEqual(loader.properties()['sockets'][0]['concurrency'], 9)
            self.assertEqual(loader.request('GET', '/hello').body, b'hello world')
            self.assertEqual(loader.request('GET', '/scope').json()['state']['started'], 'yes')
            self.assertEqual(loader.stop(), 0)
        finally:
            loader.cleanup()


if __name__ == '__main__':
    unittest.main()
