// Test harness for node-loader.js: plays Ferry's side of the SpawningKit handshake
// (loaders/PROTOCOL.md §1). It writes an app into a temp dir, builds a work directory the way
// Ferry does (args.json, args/<key>, a `finish` FIFO made with mkfifo, response/error/,
// response/steps/<step>/, envdump/annotations/), starts the loader with a stdin pipe, waits for
// `finish` or the process's exit, and talks HTTP to the unix socket it advertises.
// (Node 20's `node --test <dir>` also runs this file as a test file; it defines no tests.)
'use strict';

const assert = require('node:assert');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const LOADER = path.resolve(__dirname, '..', '..', 'node-loader.js');
const NODE_LIB = path.resolve(__dirname, '..', '..', 'lib');
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const FIXTURE_APPS = path.join(REPO_ROOT, 'crates', 'ferry-test-support', 'apps');
const STEPS = [
  'subprocess_exec_wrapper',
  'subprocess_wrapper_preparation',
  'subprocess_app_load_or_exec',
  'subprocess_listen',
];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Writes `files` ({relative path: contents}) under dir.
function writeFiles(dir, files) {
  for (const [name, contents] of Object.entries(files || {})) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, contents);
  }
}

function makeWorkDir(dir, args) {
  fs.mkdirSync(path.join(dir, 'args'), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.join(dir, 'response', 'error'), { recursive: true });
  for (const step of STEPS) fs.mkdirSync(path.join(dir, 'response', 'steps', step), { recursive: true });
  fs.mkdirSync(path.join(dir, 'envdump', 'annotations'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'args.json'), JSON.stringify(args));
  for (const [key, value] of Object.entries(args)) {
    if (value !== null && typeof value === 'object') {
      fs.writeFileSync(path.join(dir, 'args', `${key}.json`), JSON.stringify(value));
    } else {
      fs.writeFileSync(path.join(dir, 'args', key), value === null ? '' : String(value));
    }
  }
  childProcess.execFileSync('mkfifo', ['-m', '600', path.join(dir, 'response', 'finish')]);
}

// Starts the loader for an app.
//   files:       app files to write into a fresh app root, or
//   appRoot:     an existing app directory (the fixture apps)
//   startupFile: relative to the app root (default app.js)
//   args, env:   extra args.json keys / environment variables
async function startApp(opts = {}) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-node-'));
  const appRoot = opts.appRoot || path.join(base, 'app');
  fs.mkdirSync(appRoot, { recursive: true });
  writeFiles(appRoot, opts.files);
  const workDir = path.join(base, 'work');
  const socketDir = path.join(base, 'sockets');
  fs.mkdirSync(socketDir, { mode: 0o700 });
  const args = {
    app_root: appRoot,
    startup_file: path.join(appRoot, opts.startupFile || 'app.js'),
    socket_dir: socketDir,
    connect_password: 'abcdefghijklmnop',
    app_group_name: `${appRoot} (test)`,
    app_env: 'production',
    base_uri: '/',
    log_level: 3,
    node_libdir: NODE_LIB,
    bind_address: '127.0.0.1',
    UNIX_PATH_MAX: 107,
    ...(opts.args || {}),
  };
  makeWorkDir(workDir, args);
  // Ferry holds the FIFO open for reading for the whole handshake; O_RDWR never blocks and
  // keeps a writer too, so reads see "no data yet" (EAGAIN) rather than end of file.
  // opts.openFifoAfterMs: open it only that long after the start (no reader until then).
  const openFifo = () =>
    fs.openSync(path.join(workDir, 'response', 'finish'), fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  const fifoFd = opts.openFifoAfterMs ? null : openFifo();
  const started = Date.now();
  const child = childProcess.spawn(process.execPath, [LOADER], {
    cwd: appRoot,
    env: {
      ...process.env,
      NODE_OPTIONS: '',
      PASSENGER_SPAWN_WORK_DIR: workDir,
      IN_PASSENGER: '1',
      NODE_ENV: 'production',
      NODE_PATH: NODE_LIB,
      PASSENGER_BASE_URI: '',
      ...(opts.env || {}),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const app = new RunningApp({ base, appRoot, workDir, socketDir, child, fifoFd, started, args });
  if (opts.openFifoAfterMs) {
    app.fifoOpening = sleep(opts.openFifoAfterMs).then(() => {
      app.fifoFd = openFifo();
    });
  }
  return app;
}

class RunningApp {
  constructor(fields) {
    Object.assign(this, fields);
    this.stdout = '';
    this.stderr = '';
    this.exit = null; // {code, signal} once exited
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d) => (this.stdout += d));
    this.child.stderr.on('data', (d) => (this.stderr += d));
    this.child.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal, at: Date.now() };
        resolve(this.exit);
      });
    });
    this.closed = new Promise((resolve) => this.child.on('close', resolve));
  }

  get output() {
    return this.stdout + this.stderr;
  }

  // Resolves {finished: true} when "1" arrives in the FIFO, {finished: false, exit} when the
  // process exits first; rejects after timeoutMs.
  async handshake(timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    if (this.fifoOpening) await this.fifoOpening;
    const buf = Buffer.alloc(16);
    for (;;) {
      let n = 0;
      try {
        n = fs.readSync(this.fifoFd, buf, 0, buf.length, null);
      } catch (e) {
        if (e.code !== 'EAGAIN') throw e;
      }
      if (n > 0) {
        assert.strictEqual(buf.toString('utf8', 0, n), '1', 'finish FIFO content');
        this.finishedAt = Date.now();
        return { finished: true };
      }
      if (this.exit) {
        await this.closed;
        return { finished: false, exit: this.exit };
      }
      if (Date.now() > deadline) {
        throw new Error(`no handshake within ${timeoutMs} ms; output:\n${this.output}`);
      }
      await sleep(5);
    }
  }

  // Waits until the app's stderr matches `pattern` (output arrives through a pipe, possibly
  // after the HTTP response that caused it).
  async waitForStderr(pattern, timeoutMs = 5000) {
    await this.waitForOutput('stderr', pattern, timeoutMs);
  }

  async waitForStdout(pattern, timeoutMs = 5000) {
    await this.waitForOutput('stdout', pattern, timeoutMs);
  }

  async waitForOutput(which, pattern, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this[which])) {
      if (Date.now() > deadline) assert.match(this[which], pattern);
      await sleep(10);
    }
  }

  // Waits for a successful handshake and checks properties.json; returns the socket path.
  async ready(timeoutMs) {
    const result = await this.handshake(timeoutMs);
    if (!result.finished) {
      throw new Error(
        `the loader exited (${JSON.stringify(result.exit)}) without finishing; ` +
          `summary: ${this.readError('summary')}\noutput:\n${this.output}`
      );
    }
    const props = this.properties();
    assert.strictEqual(props.sockets.length, 1);
    const socket = props.sockets[0];
    assert.deepStrictEqual(Object.keys(socket).sort(), [
      'accept_http_requests',
      'address',
      'concurrency',
      'name',
      'protocol',
    ]);
    assert.strictEqual(socket.name, 'main');
    assert.strictEqual(socket.protocol, 'http');
    assert.strictEqual(socket.concurrency, 0);
    assert.strictEqual(socket.accept_http_requests, true);
    assert.match(socket.address, /^unix:\//);
    this.socketPath = socket.address.slice('unix:'.length);
    return this.socketPath;
  }

  properties() {
    return JSON.parse(fs.readFileSync(path.join(this.workDir, 'response', 'properties.json'), 'utf8'));
  }

  step(name) {
    const dir = path.join(this.workDir, 'response', 'steps', name);
    const read = (f) => {
      try {
        return fs.readFileSync(path.join(dir, f), 'utf8');
      } catch (_) {
        return undefined;
      }
    };
    const num = (v) => (v === undefined ? undefined : Number(v));
    return {
      state: read('state'),
      begin: num(read('begin_time_monotonic')),
      end: num(read('end_time_monotonic')),
    };
  }

  readError(name) {
    try {
      return fs.readFileSync(path.join(this.workDir, 'response', 'error', name), 'utf8');
    } catch (_) {
      return undefined;
    }
  }

  annotation(name) {
    try {
      return fs.readFileSync(path.join(this.workDir, 'envdump', 'annotations', name), 'utf8');
    } catch (_) {
      return undefined;
    }
  }

  // One HTTP request over the app's socket: resolves {status, headers, body (string), raw}.
  request(urlPath = '/', opts = {}) {
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path: urlPath,
          method: opts.method || 'GET',
          headers: { Host: 'app.test', 'X-Forwarded-For': '203.0.113.9', ...(opts.headers || {}) },
          agent: opts.agent || false,
          maxHeaderSize: opts.maxHeaderSize,
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const raw = Buffer.concat(chunks);
            resolve({ status: res.statusCode, headers: res.headers, body: raw.toString('utf8'), raw, res });
          });
          res.on('error', reject);
        }
      );
      req.on('error', reject);
      if (typeof opts.writeBody === 'function') opts.writeBody(req);
      else if (opts.body !== undefined) req.end(opts.body);
      else req.end();
    });
  }

  async json(urlPath, opts) {
    const res = await this.request(urlPath, opts);
    assert.strictEqual(res.status, 200, `${urlPath}: ${res.body}`);
    return JSON.parse(res.body);
  }

  // Closes the loader's stdin (Ferry's "stop") and waits for the exit.
  async stop(timeoutMs = 15000) {
    this.child.stdin.end();
    return this.waitExit(timeoutMs);
  }

  async waitExit(timeoutMs = 15000) {
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms; output:\n${this.output}`)), timeoutMs);
    });
    try {
      const exit = await Promise.race([this.exited, timeout]);
      await this.closed;
      return exit;
    } finally {
      clearTimeout(timer);
    }
  }

  // Kills what is left and removes the temp dir. Safe to call twice.
  async cleanup() {
    if (this.fifoOpening) await this.fifoOpening;
    if (!this.exit) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    if (this.fifoFd !== null) {
      fs.closeSync(this.fifoFd);
      this.fifoFd = null;
    }
    fs.rmSync(this.base, { recursive: true, force: true });
  }
}

// Runs fn(app) against a started app and always cleans up.
async function withApp(opts, fn) {
  const app = await startApp(opts);
  try {
    return await fn(app);
  } finally {
    await app.cleanup();
  }
}

// Checks the spawn error report of a loader run that should fail.
async function expectSpawnError(app, { step, summary, timeoutMs = 10000 }) {
  const result = await app.handshake(timeoutMs);
  assert.strictEqual(result.finished, false, `the handshake finished; output:\n${app.output}`);
  assert.notStrictEqual(result.exit.code, 0, `exit ${JSON.stringify(result.exit)}`);
  assert.ok(!fs.existsSync(path.join(app.workDir, 'response', 'properties.json')), 'no properties.json');
  const got = app.readError('summary');
  assert.ok(got, `no response/error/summary; output:\n${app.output}`);
  if (summary instanceof RegExp) assert.match(got, summary);
  else if (summary !== undefined) assert.strictEqual(got, summary);
  assert.ok(!got.includes('\n'), 'the summary is one line');
  if (step) {
    const s = app.step(step);
    assert.strictEqual(s.state, 'STEP_ERRORED', `${step}: ${JSON.stringify(s)}`);
    assert.ok(s.end >= s.begin, `${step} times`);
    for (const other of STEPS.slice(0, STEPS.indexOf(step))) {
      assert.strictEqual(app.step(other).state, 'STEP_PERFORMED', other);
    }
  }
  return { summary: got, exit: result.exit };
}

// A raw connection to the app's socket.
function connect(socketPath) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath, () => resolve(sock));
    sock.once('error', reject);
  });
}

// Reads from sock until `predicate(buffer)` holds; resolves the buffer.
function readUntil(sock, predicate, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timeout; got ${JSON.stringify(buf.toString('latin1'))}`));
    }, timeoutMs);
    const onData = (d) => {
      buf = Buffer.concat([buf, d]);
      if (predicate(buf)) {
        cleanup();
        resolve(buf);
      }
    };
    const onEnd = () => {
      cleanup();
      reject(new Error(`connection ended; got ${JSON.stringify(buf.toString('latin1'))}`));
    };
    function cleanup() {
      clearTimeout(timer);
      sock.removeListener('data', onData);
      sock.removeListener('end', onEnd);
    }
    sock.on('data', onData);
    sock.on('end', onEnd);
  });
}

// A masked client WebSocket frame.
function wsClientFrame(opcode, payload) {
  const data = Buffer.from(payload);
  const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  let head;
  if (data.length < 126) {
    head = Buffer.from([0x80 | opcode, 0x80 | data.length]);
  } else {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(data.length, 2);
  }
  const masked = Buffer.from(data.map((b, i) => b ^ mask[i & 3]));
  return Buffer.concat([head, mask, masked]);
}

// Parses one unmasked server frame at the start of buf, or returns null if incomplete.
function wsParseServerFrame(buf) {
  if (buf.length < 2) return null;
  let len = buf[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    off = 4;
  }
  if (buf[1] & 0x80) throw new Error('server frames must not be masked');
  if (buf.length < off + len) return null;
  return { opcode: buf[0] & 0x0f, payload: buf.subarray(off, off + len), size: off + len };
}

module.exports = {
  LOADER,
  NODE_LIB,
  FIXTURE_APPS,
  STEPS,
  sleep,
  startApp,
  withApp,
  expectSpawnError,
  connect,
  readUntil,
  wsClientFrame,
  wsParseServerFrame,
};
