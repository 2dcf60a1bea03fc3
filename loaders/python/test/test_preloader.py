# test_preloader.py: preloader mode (smart spawning, PROTOCOL.md section 6). The loader started
# with `preloader: true` loads the heavy-python app, reports a `preloader` socket and forks a
# worker for each {"command":"spawn","work_dir":...} line; the worker takes the work
# directory's FIFOs as its stdio and finishes the handshake there, as Ferry's spawner expects.

import json
import os
import select
import shutil
import socket
import tempfile
import time
import unittest

from harness import APPS, PASSWORD, Client, Loader

HEAVY = os.path.join(APPS, 'heavy-python')
WORKER_STEPS = ('preloader_preparation', 'preloader_fork_subprocess', 'preloader_send_response',
                'preloader_finish', 'subprocess_prepare_after_forking_from_preloader',
                'subprocess_listen')


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name: state, ppid, pgrp, ..."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(')') + 2:].split()


def alive(pid):
    fields = stat_fields(pid)
    return fields is not None and fields[0] != 'Z'


def command(socket_path, cmd):
    """Sends one command line to a preloader and returns its parsed answer."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    try:
        sock.connect(socket_path)
        sock.sendall(json.dumps(cmd).encode() + b'\n')
        data = b''
        while not data.endswith(b'\n'):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return json.loads(data.decode())
    finally:
        sock.close()


def socket_inodes(pid):
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            target = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if target.startswith('socket:['):
            inodes.add(target[len('socket:['):-1])
    return inodes


def unix_socket_inode(path):
    with open('/proc/net/unix') as f:
        for line in f:
            fields = line.split()
            if fields and fields[-1] == path:
                return fields[6]
    return None


class Worker(object):
    """A worker forked by the preloader, driven the way Ferry drives it."""

    def __init__(self, preloader):
        self.preloader = preloader
        self.work_dir = tempfile.mkdtemp(prefix='ferry.spawn.')
        args = dict(preloader.args)
        args.pop('preloader', None)
        args.update({'process_title': 'Ferry PythonApp', 'spawn_method': 'smart',
                     'connect_password': PASSWORD})
        for d in ['response/error'] + ['response/steps/' + s for s in WORKER_STEPS]:
            os.makedirs(os.path.join(self.work_dir, d), 0o700)
        with open(os.path.join(self.work_dir, 'args.json'), 'w') as f:
            json.dump(args, f)
        os.mkfifo(os.path.join(self.work_dir, 'response', 'finish'), 0o600)
        for name in ('stdin', 'stdout_and_err'):
            os.mkfifo(os.path.join(self.work_dir, name), 0o600)
        # As Ferry: stdin read-write (never blocks); the output's reader, plus a writer held
        # until the handshake ends, so the FIFO does not read as end-of-file before the worker
        # opened it.
        self.stdin = os.open(os.path.join(self.work_dir, 'stdin'), os.O_RDWR)
        self.out = os.open(os.path.join(self.work_dir, 'stdout_and_err'), os.O_RDONLY | os.O_NONBLOCK)
        self.keep = os.open(os.path.join(self.work_dir, 'stdout_and_err'), os.O_WRONLY | os.O_NONBLOCK)
        self.answer = command(preloader.socket_path, {'command': 'spawn', 'work_dir': self.work_dir})
        self.pid = self.answer.get('pid')
        self.socket_path = None

    def ready(self):
        assert self.answer.get('result') == 'ok', self.answer
        fd = os.open(os.path.join(self.work_dir, 'response', 'finish'), os.O_RDWR | os.O_NONBLOCK)
        try:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready and os.read(fd, 1) == b'1', 'no finish; output: %r' % self.output()
        finally:
            os.close(fd)
        os.close(self.keep)
        self.keep = None
        with open(os.path.join(self.work_dir, 'response', 'properties.json')) as f:
            self.socket_path = json.load(f)['sockets'][0]['address'][len('unix:'):]
        return self

    def output(self):
        data = b''
        while True:
            try:
                chunk = os.read(self.out, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        return data.decode('utf-8', 'replace')

    def step(self, step):
        path = os.path.join(self.work_dir, 'response', 'steps', step, 'state')
        if not os.path.exists(path):
            return None
        with open(path) as f:
            return f.read()

    def get(self, path):
        client = Client(self.socket_path)
        try:
            return client.request('GET', path)
        finally:
            client.close()

    def stop(self):
        if self.stdin is not None:
            os.close(self.stdin)
            self.stdin = None

    def cleanup(self):
        self.stop()
        if self.pid and alive(self.pid):
            try:
                os.kill(self.pid, 9)
            except OSError:
                pass
        for fd in (self.out, self.keep):
            if fd is not None:
                os.close(fd)
        self.out = self.keep = None
        shutil.rmtree(self.work_dir, ignore_errors=True)


class PreloaderTests(unittest.TestCase):
    def setUp(self):
        self.workers = []
        self.loader = Loader(app_dir=HEAVY,
                             args={'preloader': True, 'process_title': 'Ferry AppPreloader',
                                   'spawn_method': 'smart'},
                             env={'HEAVY_LOAD_SECONDS': '0', 'HEAVY_ENTRIES': '1000'})
        self.addCleanup(self.loader.cleanup)
        self.loader.ready()

    def tearDown(self):
        for worker in self.workers:
            worker.cleanup()

    def fork_worker(self):
        worker = Worker(self.loader)
        self.workers.append(worker)
        return worker.ready()

    def wait_until(self, cond, timeout=10):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def test_the_preloader_reports_a_preloader_socket(self):
        sock = self.loader.properties()['sockets'][0]
        self.assertEqual(sock['protocol'], 'preloader')
        self.assertFalse(sock.get('accept_http_requests', False))
        self.assertEqual(os.stat(self.loader.socket_path).st_mode & 0o777, 0o600)
        with open('/proc/%d/comm' % self.loader.proc.pid) as f:
            self.assertTrue(f.read().startswith('Ferry AppPre'))
        for step in ('subprocess_exec_wrapper', 'subprocess_wrapper_preparation',
                     'subprocess_app_load_or_exec', 'subprocess_listen'):
            self.assertEqual(self.loader.step(step, 'state'), 'STEP_PERFORMED', step)

    def test_a_forked_worker_finishes_the_handshake_in_its_work_directory(self):
        worker = self.fork_worker()
        fields = stat_fields(worker.pid)
        self.assertEqual(int(fields[1]), self.loader.proc.pid)   # the preloader's child
        self.assertEqual(int(fields[2]), worker.pid)             # its own process group
        # os.register_at_fork(after_in_child=...) hooks, the app's included, ran.
        self.assertEqual(worker.get('/forked').body, b'true')
        self.assertEqual(worker.get('/size').body, b'1000')
        for step in WORKER_STEPS:
            self.assertEqual(worker.step(step), 'STEP_PERFORMED', step)

    def test_workers_draw_different_random_numbers(self):
        a, b = self.fork_worker(), self.fork_worker()
        self.assertNotEqual(a.get('/random').body, b.get('/random').body)

    def test_the_worker_does_not_hold_the_preloader_socket(self):
        worker = self.fork_worker()
        inode = unix_socket_inode(self.loader.socket_path)
        self.assertIsNotNone(inode)
        self.assertIn(inode, socket_inodes(self.loader.proc.pid))
        self.assertNotIn(inode, socket_inodes(worker.pid))

    def test_bad_commands_get_error_answers(self):
        answer = command(self.loader.socket_path, {'command': 'dance'})
        self.assertEqual(answer['result'], 'error')
        self.assertIn('unknown command', answer['message'])
        answer = command(self.loader.socket_path, {'command': 'spawn', 'work_dir': '/nonexistent/x'})
        self.assertEqual(answer['result'], 'error')
        self.assertIn('does not exist', answer['message'])
        self.assertEqual(self.fork_worker().get('/forked').body, b'true')

    def test_exited_workers_are_reaped_and_stdin_eof_stops_the_preloader(self):
        worker = self.fork_worker()
        worker.stop()
        preloader = self.loader.proc.pid
        self.assertTrue(self.wait_until(
            lambda: not alive(worker.pid) and (stat_fields(worker.pid) or [0, 0])[1] != str(preloader)),
            'the preloader did not reap its worker')
        path = self.loader.socket_path
        self.assertEqual(self.loader.stop(), 0)
        self.assertFalse(os.path.exists(path), 'the preloader left its socket behind')


if __name__ == '__main__':
    unittest.main()
