# test_fixture_apps.py: the fixture apps Ferry's Rust tests use (wsgi-stub, flask), run by the loader.

import hashlib
import os
import unittest
from urllib.parse import urlencode

from harness import APPS, Client, Loader, requires_module

STUB = os.path.join(APPS, 'wsgi-stub')
FLASK = os.path.join(APPS, 'flask')
FIFTY_MB = 50 * 1024 * 1024


class StubTests(unittest.TestCase):
    env = {}

    @classmethod
    def setUpClass(cls):
        cls.loader = Loader(app_dir=STUB, env=cls.env)
        try:
            cls.loader.ready()
        except BaseException:
            cls.loader.cleanup()
            raise
        cls.upload_data = os.urandom(FIFTY_MB)
        cls.upload_sha = hashlib.sha256(cls.upload_data).hexdigest()

    @classmethod
    def tearDownClass(cls):
        cls.loader.cleanup()

    def get(self, path, **kw):
        r = self.loader.request('GET', path, **kw)
        self.assertNotEqual(r.status, 500, (r, self.loader.read_output()))
        return r

    def pid(self):
        return str(self.loader.proc.pid).encode()

    def test_hello(self):
        r = self.get('/hello')
        self.assertEqual((r.status, r.body, r.header('Content-Length')), (200, b'hello world', '11'))
        self.assertEqual(r.header('Content-Type'), 'text/plain')
        self.assertEqual(r.header('X-Pid').encode(), self.pid())

    def test_env(self):
        r = self.get('/env', query='x=1', script_name='/base', headers={'HTTP_X_TEST': 'yes'})
        self.assertEqual(r.header('Content-Type'), 'application/json')
        env = r.json()
        self.assertEqual(env['SCRIPT_NAME'], '/base')
        self.assertEqual(env['PATH_INFO'], '/env')
        self.assertEqual(env['QUERY_STRING'], 'x=1')
        self.assertEqual(env['HTTP_X_TEST'], 'yes')
        self.assertEqual(env['wsgi.url_scheme'], 'http')

    def test_mounted_at_a_base_uri(self):
        r = self.get('/hello', script_name='/sub/uri')
        self.assertEqual(r.body, b'hello world')

    def test_upload_content_length(self):
        r = self.loader.request('POST', '/upload', body=self.upload_data)
        self.assertEqual(r.json(), {'length': FIFTY_MB, 'sha256': self.upload_sha})

    def test_upload_chunked(self):
        data = self.upload_data
        pieces = [data[i:i + 100000] for i in range(0, len(data), 100000)]
        r = self.loader.request('POST', '/upload', chunks=pieces)
        self.assertEqual(r.json(), {'length': FIFTY_MB, 'sha256': self.upload_sha})

    def test_small_uploads(self):
        for body in (b'', b'x'):
            r = self.loader.request('POST', '/upload', body=body)
            self.assertEqual(r.json()['length'], len(body))
            r = self.loader.request('POST', '/upload', chunks=[body] if body else [])
            self.assertEqual(r.json()['length'], len(body))

    def test_stream(self):
        gate = os.path.join(self.loader.tmp, 'gate-' + type(self).__name__)
        c = Client(self.loader.socket_path)
        c.send_request('GET', '/stream', query='gate=' + gate)
        status, _, headers = c.read_head()
        self.assertEqual(status, 200)
        self.assertEqual(c.read_chunk(), b'first\n')
        open(gate, 'w').close()
        self.assertEqual(c.read_chunk(), b'last\n')
        self.assertEqual(c.read_chunk(), b'')
        c.close()

    def test_write(self):
        self.assertEqual(self.get('/write').body, b'written\nreturned\n')

    def test_file(self):
        with open(os.path.join(STUB, 'file.txt'), 'rb') as f:
            data = f.read()
        self.assertEqual(len(data), 40960)
        r = self.get('/file')
        self.assertEqual((r.body, r.header('Content-Length')), (data, '40960'))

    def test_cookies(self):
        self.assertEqual(self.get('/cookies').all('Set-Cookie'), ['a=1', 'b=2', 'c=3'])

    def test_status(self):
        c = Client(self.loader.socket_path)
        for code in (204, 304):
            r = c.request('GET', '/status/%d' % code)
            self.assertEqual((r.status, r.body), (code, b''))
        r = c.request('GET', '/status/404')
        self.assertEqual((r.status, r.body), (404, b''))
        c.close()

    def test_large_header(self):
        r = self.get('/large-header', query='size=40000')
        self.assertEqual((r.header('X-Large'), r.body), ('x' * 40000, b'ok'))

    def test_error(self):
        r = self.loader.request('GET', '/error')
        self.assertEqual(r.status, 500)
        self.assertTrue(self.loader.wait_output('RuntimeError: ferry-test-boom'))

    def test_pid(self):
        self.assertEqual(self.get('/pid').body, self.pid())

    def test_not_found(self):
        self.assertEqual(self.get('/nope').status, 404)


class StubLintTests(StubTests):
    env = {'FERRY_TEST_LINT': '1'}


@requires_module('flask')
class FlaskTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.loader = Loader(app_dir=FLASK)
        try:
            cls.loader.ready()
        except BaseException:
            cls.loader.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.loader.cleanup()

    def test_index(self):
        r = self.loader.request('GET', '/')
        self.assertEqual(r.status, 200, self.loader.read_output())
        self.assertIn('text/html', r.header('Content-Type'))
        self.assertIn(b'Hello from Flask', r.body)
        self.assertIn(b'<form method="post" action="/form">', r.body)

    def test_index_mounted(self):
        r = self.loader.request('GET', '/', script_name='/flask')
        self.assertIn(b'action="/flask/form"', r.body)

    def test_form(self):
        body = urlencode({'name': 'Ferry User'}).encode()
        form = {'CONTENT_TYPE': 'application/x-www-form-urlencoded'}
        r = self.loader.request('POST', '/form', body=body, headers=form)
        self.assertEqual((r.status, r.body), (200, b'Thanks, Ferry User'))
        r = self.loader.request('POST', '/form', chunks=[body[:3], body[3:]], headers=form)
        self.assertEqual((r.status, r.body), (200, b'Thanks, Ferry User'))
        r = self.loader.request('POST', '/form', body=b'name=%3Cb%3E', headers=form)
        self.assertEqual(r.body, b'Thanks, &lt;b&gt;')

    def test_keepalive(self):
        c = Client(self.loader.socket_path)
        for _ in range(3):
            self.assertIn(b'Hello from Flask', c.request('GET', '/').body)
        r = c.request('HEAD', '/')
        self.assertEqual(r.body, b'')
        self.assertEqual(c.request('GET', '/missing').status, 404)
        c.close()


if __name__ == '__main__':
    unittest.main()
