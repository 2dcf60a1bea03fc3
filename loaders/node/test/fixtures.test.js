// Runs the Node fixture apps of Ferry's Rust integration tests (crates/ferry-test-support/apps)
// through node-loader.js, so a broken fixture shows up here first: node-stub (every endpoint),
// node-esm, node-mjs, node-no-listen and express (skipped when its node_modules is missing, and
// failed under CI; scripts/install-deps.sh installs it with `npm ci --omit=dev` there).
'use strict';

const assert = require('node:assert');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { describe, test, before, after } = require('node:test');
const {
  FIXTURE_APPS,
  startApp,
  withApp,
  expectSpawnError,
  connect,
  readUntil,
  wsClientFrame,
  wsParseServerFrame,
} = require('./support/harness.js');
const { testRequiring } = require('./support/require.js');

const STUB = path.join(FIXTURE_APPS, 'node-stub');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe('node-stub', () => {
  let app;
  before(async () => {
    app = await startApp({ appRoot: STUB, env: { PASSENGER_BASE_URI: '/sub' }, args: { base_uri: '/sub' } });
    await app.ready();
  });
  after(async () => {
    const exit = await app.stop();
    assert.strictEqual(exit.code, 0);
    await app.cleanup();
  });

  test('GET /hello, with and without the base URI', async () => {
    for (const p of ['/sub/hello', '/hello']) {
      const r = await app.request(p);
      assert.strictEqual(r.status, 200);
      assert.strictEqual(r.body, 'hello world');
      assert.strictEqual(r.headers['content-type'], 'text/plain');
      assert.strictEqual(r.headers['content-length'], '11');
    }
  });

  test('GET /env', async () => {
    const r = await app.json('/sub/env?a=1&b=%20', { headers: { 'X-Custom': 'yes' } });
    assert.strictEqual(r.method, 'GET');
    assert.strictEqual(r.url, '/sub/env?a=1&b=%20');
    assert.strictEqual(r.base_uri, '/sub');
    assert.strictEqual(r.headers['x-custom'], 'yes');
    assert.strictEqual(r.headers['x-forwarded-for'], '203.0.113.9');
  });

  for (const mode of ['content-length', 'chunked']) {
    test(`POST /upload, 50 MB, ${mode}`, async () => {
      const total = 50 * 1024 * 1024;
      const block = crypto.randomBytes(1024 * 1024);
      const hash = crypto.createHash('sha256');
      for (let i = 0; i < total / block.length; i++) hash.update(block);
      const expected = hash.digest('hex');
      const headers = { 'Content-Type': 'application/octet-stream' };
      if (mode === 'content-length') headers['Content-Length'] = String(total);
      const r = await app.request('/sub/upload', {
        method: 'POST',
        headers,
        writeBody(req) {
          let sent = 0;
          const pump = () => {
            while (sent < total) {
              sent += block.length;
              if (!req.write(block)) {
                req.once('drain', pump);
                return;
              }
            }
            req.end();
          };
          pump();
        },
      });
      assert.strictEqual(r.status, 200, r.body);
      assert.deepStrictEqual(JSON.parse(r.body), { length: total, sha256: expected });
    });
  }

  test('GET /stream?gate=...: the first line arrives before the gate opens', async () => {
    const gate = path.join(os.tmpdir(), `ferry-gate-${process.pid}-${Date.now()}`);
    const sock = await connect(app.socketPath);
    sock.write(`GET /sub/stream?gate=${encodeURIComponent(gate)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const first = await readUntil(sock, (b) => b.includes('first\n'));
    assert.match(first.toString(), /Transfer-Encoding: chunked/i);
    assert.ok(!first.includes('last'));
    fs.writeFileSync(gate, '');
    try {
      const rest = await readUntil(sock, (b) => b.includes('0\r\n\r\n'));
      assert.ok(rest.includes('last\n'));
    } finally {
      fs.rmSync(gate, { force: true });
      sock.destroy();
    }
  });

  // Issue 16: when its client leaves mid-upload Ferry resets the app's connection; the loader
  // adds nothing, so the app sees Node's own abort (req.complete false at 'close'), not 'end'.
  test('POST /consume: a body cut short is an abort, not an end', async () => {
    const record = path.join(os.tmpdir(), `ferry-record-${process.pid}-${Date.now()}`);
    const sock = await connect(app.socketPath);
    sock.write(
      `POST /sub/consume?record=${encodeURIComponent(record)} HTTP/1.1\r\nHost: x\r\n` +
        'Content-Length: 1000\r\n\r\n' +
        'x'.repeat(500)
    );
    const read = () => (fs.existsSync(record) ? fs.readFileSync(record, 'utf8') : '');
    try {
      for (let i = 0; i < 500 && !read().includes('first-byte'); i++) await sleep(10);
      sock.destroy();
      for (let i = 0; i < 500 && !/^(error|complete)/m.test(read()); i++) await sleep(10);
      const lines = read().trim().split('\n');
      assert.deepStrictEqual(lines, ['arrived', 'first-byte', 'error aborted']);
    } finally {
      fs.rmSync(record, { force: true });
    }
  });

  test('GET /cookies', async () => {
    const r = await app.request('/sub/cookies');
    assert.deepStrictEqual(r.headers['set-cookie'], ['a=1', 'b=2', 'c=3']);
  });

  test('GET /status/<code>', async () => {
    for (const code of [201, 204, 404, 418, 503]) {
      const r = await app.request(`/sub/status/${code}`);
      assert.strictEqual(r.status, code);
      assert.strictEqual(r.body, '');
    }
  });

  test('GET /large-header?size=N', async () => {
    const r = await app.request('/sub/large-header?size=100000', { maxHeaderSize: 1 << 20 });
    assert.strictEqual(r.headers['x-large'], 'x'.repeat(100000));
    assert.strictEqual(r.body, 'ok');
  });

  test('GET /error: 500, the stack is logged, the process lives on', async () => {
    const r = await app.request('/sub/error');
    assert.strictEqual(r.status, 500);
    await app.waitForStderr(/Error: ferry-test-boom \(node-stub: deliberate error in a request handler\)\n\s+at route /);
    const again = await app.request('/sub/hello');
    assert.strictEqual(again.body, 'hello world');
  });

  test('GET /ws: WebSocket echo', async () => {
    const sock = await connect(app.socketPath);
    const key = crypto.randomBytes(16).toString('base64');
    sock.write(
      'GET /sub/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`
    );
    let buf = await readUntil(sock, (b) => b.includes('\r\n\r\n'));
    const headEnd = buf.indexOf('\r\n\r\n') + 4;
    const head = buf.subarray(0, headEnd).toString('latin1');
    assert.match(head, /^HTTP\/1\.1 101 /);
    const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    assert.ok(head.includes(`Sec-WebSocket-Accept: ${accept}\r\n`), head);
    buf = buf.subarray(headEnd);
    const nextFrame = async () => {
      if (!wsParseServerFrame(buf)) {
        const more = await readUntil(sock, (b) => wsParseServerFrame(Buffer.concat([buf, b])) !== null);
        buf = Buffer.concat([buf, more]);
      }
      const frame = wsParseServerFrame(buf);
      buf = buf.subarray(frame.size);
      return frame;
    };
    for (const m of ['hello', 'x'.repeat(300), 'ünïcödé']) {
      sock.write(wsClientFrame(1, m));
      const frame = await nextFrame();
      assert.strictEqual(frame.opcode, 1);
      assert.strictEqual(frame.payload.toString('utf8'), m);
    }
    sock.write(wsClientFrame(8, Buffer.from([0x03, 0xe8])));
    assert.strictEqual((await nextFrame()).opcode, 8);
    sock.destroy();
  });

  test('GET /pid', async () => {
    const r = await app.request('/sub/pid');
    assert.strictEqual(r.body, String(app.child.pid));
  });
});

test('node-esm: "type": "module" with top-level await', async () => {
  await withApp({ appRoot: path.join(FIXTURE_APPS, 'node-esm') }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'esm ok');
  });
});

test('node-mjs: app.mjs', async () => {
  await withApp({ appRoot: path.join(FIXTURE_APPS, 'node-mjs'), startupFile: 'app.mjs' }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'mjs ok');
  });
});

test('node-no-listen: spawn error', async () => {
  await withApp({ appRoot: path.join(FIXTURE_APPS, 'node-no-listen') }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_listen',
      summary: 'The app loaded but never called listen() on an HTTP server',
    });
    assert.match(app.stdout, /node-no-listen: loaded/);
  });
});

const EXPRESS = path.join(FIXTURE_APPS, 'express');
const expressInstalled = fs.existsSync(path.join(EXPRESS, 'node_modules', 'express', 'package.json'));
testRequiring(
  'express: GET / and POST /form',
  !expressInstalled && `Express is missing: run \`npm ci --omit=dev\` in ${EXPRESS} (scripts/install-deps.sh does)`,
  async () => {
    await withApp({ appRoot: EXPRESS }, async (app) => {
      await app.ready();
      const home = await app.request('/');
      assert.strictEqual(home.status, 200);
      assert.match(home.headers['content-type'], /^text\/html/);
      assert.match(home.body, /Hello from Express/);
      assert.match(home.body, /<form method="post" action="\/form">/);
      const posted = await app.request('/form', {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'name=Ferry+Tester',
      });
      assert.strictEqual(posted.status, 200);
      assert.strictEqual(posted.body, 'Thanks, Ferry Tester');
      const exit = await app.stop();
      assert.strictEqual(exit.code, 0);
    });
  }
);
