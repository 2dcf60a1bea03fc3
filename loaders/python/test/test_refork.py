# test_refork.py: re-forking (PROTOCOL.md section 6.4). A worker forked from a preloader, sent a
# PROMOTE frame, stops serving, calls the app's ferry_promoted_to_template() and becomes a
# preloader itself: it answers with its new preloader socket, and the workers it forks for spawn
# commands are its children. In both concurrency models.

import json
import os
import shutil
import socket
import struct
import tempfile
import time
import unittest

from harness import APPS, PASSWORD, Loader
from test_preloader import Worker, alive, stat_fields

REFORK = os.path.join(APPS, 'refork-wsgi')


class Template(object):
    """What a test Worker needs of the process it asks for a worker."""

    def __init__(self, args, socket_path):
        self.args = args
        self.socket_path = socket_path


def promote(worker, password=PASSWORD):
    """Sends the PROMOTE frame; returns the parsed answer line, or None when the connection
    closed without one."""
    pairs = {'REQUEST_METHOD': 'PROMOTE', 'PASSENGER_CONNECT_PASSWORD': password}
    payload = b''.join(k.encode() + b'\0' + v.encode() + b'\0' for k, v in pairs.items())
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    try:
        sock.connect(worker.socket_path)
        sock.sendall(struct.pack('>I', len(payload)) + payload)
        data = b''
        while not data.endswith(b'\n'):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return json.loads(data.decode()) if data.strip() else None
    finally:
        sock.close()


class ReforkTests(unittest.TestCase):
    thread_model = False

    def setUp(self):
        self.workers = []
        self.dir = tempfile.mkdtemp(prefix='ferry-refork-test.')
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.events = os.path.join(self.dir, 'events')
        args = {'preloader': True, 'process_title': 'Ferry AppPreloader', 'spawn_method': 'smart'}
        if self.thread_model:
            args.update({'concurrency_model': 'thread', 'thread_count': 3})
        self.loader = Loader(app_dir=REFORK, args=args,
                             env={'REFORK_EVENT_FILE': self.events, 'LAZY_ENTRIES': '1000'})
        self.addCleanup(self.loader.cleanup)
        self.loader.ready()

    def tearDown(self):
        for worker in self.workers:
            worker.cleanup()

    def fork_from(self, preloader):
        worker = Worker(preloader)
        self.workers.append(worker)
        return worker.ready()

    def wait_until(self, cond, timeout=10):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def test_a_promoted_worker_becomes_the_preloader_of_its_own_children(self):
        worker = self.fork_from(self.loader)
        self.assertEqual(worker.get('/lazy').body, b'1000')   # warmed
        answer = promote(worker)
        self.assertEqual(answer and answer.get('result'), 'ok', answer)
        path = answer['socket'][len('unix:'):]
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertFalse(os.path.exists(worker.socket_path), 'the template kept its request socket')
        with open(self.events) as f:
            self.assertEqual(f.read(), 'promoted_to_template %d\n' % worker.pid)

        child = self.fork_from(Template(self.loader.args, path))
        fields = stat_fields(child.pid)
        self.assertEqual(int(fields[1]), worker.pid)   # the template's child
        self.assertEqual(int(fields[2]), child.pid)    # its own process group
        self.assertEqual(child.get('/promoted').body, str(worker.pid).encode())
        self.assertEqual(child.get('/lazy').body, b'1000')

        # The template reaps its workers, and stops when its stdin ends.
        child.stop()
        self.assertTrue(self.wait_until(
            lambda: not alive(child.pid)
            and (stat_fields(child.pid) or [0, 0])[1] != str(worker.pid)),
            'the template did not reap its worker')
        worker.stop()
        self.assertTrue(self.wait_until(lambda: not alive(worker.pid)), 'the template did not stop')
        self.assertFalse(os.path.exists(path), 'the template left its socket behind')

    def test_promote_without_the_connect_password_is_refused(self):
        worker = self.fork_from(self.loader)
        self.assertIsNone(promote(worker, password='wrong'))
        self.assertEqual(worker.get('/').body, b'refork\n')
        self.assertFalse(os.path.exists(self.events))


class ThreadedReforkTests(ReforkTests):
    thread_model = True


if __name__ == '__main__':
    unittest.main()
