// Tests of node-loader.js: the handshake of a working app and the redirected listen() in all its
// argument forms, Express-style servers, second servers, autoInstall: false, late listens,
// WebSocket upgrades, the process title and the PhusionPassenger global.
'use strict';

const assert = require('node:assert');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { describe, test } = require('node:test');
const {
  STEPS,
  withApp,
  connect,
  readUntil,
  wsClientFrame,
  wsParseServerFrame,
} = require('./support/harness.js');

// An app whose handler reports what the loader let it see.
function reportingApp(listenCall) {
  return `'use strict';
const http = require('http');
const seen = { callback: 0, listening: 0, callbackThis: null };
const server = http.createServer((req, res) => {
  const body = JSON.stringify({
    seen,
    address: server.address(),
    listening: server.listening,
    url: req.url,
    xff: req.headers['x-forwarded-for'],
    remoteAddress: req.socket.remoteAddress === undefined ? null : req.socket.remoteAddress,
    isMain: require.main === module,
    argv1: process.argv[1],
  });
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});
server.on('listening', () => { seen.listening++; });
function cb() { seen.callback++; seen.callbackThis = this === server; }
const returned = ${listenCall};
if (returned !== server) throw new Error('listen() must return the server');
`;
}

test('a plain http.createServer().listen(3000) app: handshake, properties, steps, requests', async () => {
  await withApp({ files: { 'app.js': reportingApp('server.listen(3000)') } }, async (app) => {
    const socketPath = await app.ready();
    assert.strictEqual(path.dirname(socketPath), app.socketDir);
    assert.match(path.basename(socketPath), /^node\.[0-9a-z]+$/);
    const st = fs.statSync(socketPath);
    assert.ok(st.isSocket());
    assert.strictEqual(st.mode & 0o777, 0o600);

    let previousEnd = 0;
    for (const name of STEPS) {
      const s = app.step(name);
      assert.strictEqual(s.state, 'STEP_PERFORMED', name);
      assert.ok(s.begin > 0 && s.end >= s.begin, `${name}: ${JSON.stringify(s)}`);
      assert.ok(s.begin >= previousEnd - 0.001, `${name} begins after the previous step ended`);
      previousEnd = s.end;
    }
    assert.strictEqual(fs.readdirSync(path.join(app.workDir, 'response', 'error')).length, 0);

    const r = await app.json('/some/path?x=1');
    assert.strictEqual(r.url, '/some/path?x=1');
    assert.strictEqual(r.address, socketPath);
    assert.strictEqual(r.listening, true);
    assert.strictEqual(r.seen.listening, 1);
    assert.strictEqual(r.xff, '203.0.113.9', 'headers reach the app untouched');
    assert.strictEqual(r.remoteAddress, null, 'the loader does not fake remoteAddress');
    assert.strictEqual(r.isMain, true, 'require.main === module for the startup file');
    assert.strictEqual(r.argv1, path.join(app.appRoot, 'app.js'));

    // Keep-alive: several requests on one connection.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) {
      const res = await app.request(`/k${i}`, { agent });
      assert.strictEqual(JSON.parse(res.body).url, `/k${i}`);
    }
    agent.destroy();

    const exit = await app.stop();
    assert.deepStrictEqual([exit.code, exit.signal], [0, null]);
    assert.ok(!fs.existsSync(socketPath), 'the socket file is removed');
  });
});

describe('every listen() argument form is redirected to the socket', { concurrency: 4 }, () => {
  const forms = [
    ['port', 'server.listen(3000)', false],
    ['port as a string', "server.listen('3000')", false],
    ['port + callback', 'server.listen(3000, cb)', true],
    ['port + host', "server.listen(3000, '127.0.0.1')", false],
    ['port + host + callback', "server.listen(3000, 'localhost', cb)", true],
    ['port + host + backlog + callback', "server.listen(3000, '0.0.0.0', 511, cb)", true],
    ['port + backlog + callback', 'server.listen(3000, 100, cb)', true],
    ['options object + callback', "server.listen({ port: 3000, host: 'localhost', backlog: 64 }, cb)", true],
    ['options object with an AbortSignal', 'server.listen({ port: 3000, signal: new AbortController().signal })', false],
    ['options object with a path', "server.listen({ path: require('path').join(__dirname, 'app.sock') }, cb)", true],
    ['unix path + callback', "server.listen(require('path').join(__dirname, 'app.sock'), cb)", true],
    ['handle object', 'server.listen({ fd: 1234 })', false],
    ['no arguments', 'server.listen()', false],
    ['only a callback', 'server.listen(cb)', true],
    ["'passenger'", "server.listen('passenger', cb)", true],
    ["'/passenger'", "server.listen('/passenger')", false],
  ];
  for (const [name, call, hasCallback] of forms) {
    test(name, async () => {
      await withApp({ files: { 'app.js': reportingApp(call) } }, async (app) => {
        const socketPath = await app.ready();
        const r = await app.json('/');
        assert.strictEqual(r.address, socketPath, 'server.address() is the socket path');
        assert.strictEqual(r.seen.listening, 1, "'listening' fired once");
        assert.strictEqual(r.seen.callback, hasCallback ? 1 : 0, 'the callback fired once');
        if (hasCallback) assert.strictEqual(r.seen.callbackThis, true, 'callback this === server');
        assert.ok(!fs.existsSync(path.join(app.appRoot, 'app.sock')), 'the requested path is not used');
      });
    });
  }
});

test('Express-style app.listen() and http.Server subclasses are redirected', async () => {
  const files = {
    'app.js': `'use strict';
const http = require('http');
class MyServer extends http.Server {}
function createApp() {
  const handler = (req, res) => res.end('express-style ' + (this === undefined));
  handler.listen = function listen(...args) {
    const server = new MyServer(handler);
    return server.listen(...args);
  };
  return handler;
}
const app = createApp();
const server = app.listen(process.env.PORT || 3000, function () {
  console.log('listening on', this.address());
});
if (!(server instanceof MyServer)) throw new Error('listen() returned something else');
`,
  };
  await withApp({ files }, async (app) => {
    const socketPath = await app.ready();
    const r = await app.request('/');
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.body, 'express-style true');
    await app.waitForStdout(new RegExp(`listening on ${socketPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });
});

test('a second HTTP server that listens gets a clear error; other servers are untouched', async () => {
  const files = {
    'app.js': `'use strict';
const http = require('http');
const net = require('net');
const path = require('path');
let secondError = null;
const main = http.createServer((req, res) => {
  const body = JSON.stringify({ secondError, tcpAddress: tcp.address() });
  res.end(body);
});
main.listen(3000);
try {
  http.createServer(() => {}).listen(3001);
} catch (e) {
  secondError = e.message;
}
// A plain net server (not HTTP) listens where it asks.
const tcp = net.createServer((c) => c.end('raw hello')).listen(0, '127.0.0.1');
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    const r = await app.json('/');
    assert.match(r.secondError, /second HTTP server/);
    assert.match(r.secondError, /autoInstall: false/);
    assert.strictEqual(r.tcpAddress.address, '127.0.0.1');
    const sock = net.connect(r.tcpAddress.port, '127.0.0.1');
    const got = await readUntil(sock, (b) => b.toString().includes('raw hello'));
    assert.strictEqual(got.toString(), 'raw hello');
    sock.destroy();
  });
});

test("PhusionPassenger.configure({autoInstall: false}): only listen('passenger') is redirected", async () => {
  const files = {
    'app.js': `'use strict';
const http = require('http');
PhusionPassenger.configure({ autoInstall: false });
const admin = http.createServer((req, res) => res.end('admin'));
admin.listen(0, '127.0.0.1', () => {
  const main = http.createServer((req, res) => res.end(JSON.stringify({ adminPort: admin.address().port })));
  main.listen('passenger');
});
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    const r = await app.json('/');
    assert.ok(r.adminPort > 0);
    const admin = await new Promise((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: r.adminPort, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    assert.strictEqual(admin, 'admin');
  });
});

test('an app that listens later (after a timer and a fake DB connect) still works', async () => {
  const files = {
    'app.js': `'use strict';
const http = require('http');
function connectToDatabase() {
  return new Promise((resolve) => setTimeout(() => resolve({ ok: true }), 150));
}
setTimeout(async () => {
  const db = await connectToDatabase();
  http.createServer((req, res) => res.end('late ' + db.ok)).listen(8080);
}, 100);
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    assert.ok(app.finishedAt - app.started >= 250, 'finish came after the listen');
    const r = await app.request('/');
    assert.strictEqual(r.body, 'late true');
  });
});

test('a WebSocket upgrade reaches the app (upgrade event) and bytes pass both ways', async () => {
  const files = {
    'app.js': `'use strict';
const http = require('http');
const crypto = require('crypto');
const server = http.createServer((req, res) => res.end('plain'));
server.on('upgrade', (req, socket, head) => {
  const accept = crypto.createHash('sha1')
    .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
    'Sec-WebSocket-Accept: ' + accept + '\\r\\nX-Upgrade-Url: ' + req.url + '\\r\\n\\r\\n');
  // Echo raw bytes back (the test checks frames byte for byte).
  if (head.length) socket.write(head);
  socket.pipe(socket);
});
server.listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    const socketPath = await app.ready();
    const sock = await connect(socketPath);
    sock.write(
      'GET /chat HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
    );
    const head = await readUntil(sock, (b) => b.includes('\r\n\r\n'));
    const text = head.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 /);
    assert.match(text, /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    assert.match(text, /X-Upgrade-Url: \/chat/);
    const frame = wsClientFrame(1, 'ping over ws');
    sock.write(frame);
    const echoed = await readUntil(sock, (b) => b.length >= frame.length);
    assert.deepStrictEqual(echoed, frame);
    sock.destroy();
  });
});

test('the process title, the PhusionPassenger global and cluster under the loader', async () => {
  const files = {
    'app.js': `'use strict';
const http = require('http');
const cluster = require('cluster');
if (cluster.isPrimary) {
  // Would fork workers outside Ferry; under Ferry the stand-in makes this a worker.
  for (let i = 0; i < 4; i++) cluster.fork();
} else {
  let forkError = null;
  try { cluster.fork(); } catch (e) { forkError = e.message; }
  http.createServer((req, res) => res.end(JSON.stringify({
    title: process.title,
    isEmitter: typeof PhusionPassenger.on === 'function',
    group: PhusionPassenger.options.app_group_name,
    socketDir: PhusionPassenger.options.socket_dir,
    isWorker: cluster.isWorker,
    forkError,
  }))).listen(3000);
}
`,
  };
  await withApp({ files, args: { process_title: 'Ferry TestApp' } }, async (app) => {
    await app.ready();
    const r = await app.json('/');
    const expected = `Ferry TestApp: ${app.appRoot} (test)`;
    assert.strictEqual(r.title, expected);
    const cmdline = fs.readFileSync(`/proc/${app.child.pid}/cmdline`, 'utf8').replace(/\0+$/, '');
    assert.ok(expected.startsWith(cmdline.split('\0')[0]) && cmdline.length > 10, `ps shows ${cmdline}`);
    assert.strictEqual(r.isEmitter, true);
    assert.strictEqual(r.group, `${app.appRoot} (test)`);
    assert.strictEqual(r.socketDir, app.socketDir);
    assert.strictEqual(r.isWorker, true);
    assert.match(r.forkError, /cluster\.fork\(\) was called/);
    await app.waitForStderr(/this app loaded the cluster module/);
  });
});

test("the default process title is 'Ferry NodeApp: <app group>'", async () => {
  const files = { 'app.js': "require('http').createServer((q, s) => s.end(process.title)).listen(1)" };
  await withApp({ files }, async (app) => {
    await app.ready();
    const r = await app.request('/');
    assert.strictEqual(r.body, `Ferry NodeApp: ${app.appRoot} (test)`);
  });
});

test('finish is written even when Ferry opens the FIFO late (no reader at first)', async () => {
  const files = { 'app.js': "require('http').createServer((q, s) => s.end('ok')).listen(3000);\n" };
  await withApp({ files, openFifoAfterMs: 400, args: { log_level: 7 } }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'ok');
    await app.waitForStderr(/\[ferry node-loader\] listening on /);
  });
});

test('socket names: an existing file is skipped, EADDRINUSE is retried without the app noticing', async () => {
  // Math.random() is pinned so the loader's candidate names are known: node.ii, then node.99,
  // then node.rr. node.ii is taken by a live socket that lstat() is made not to see (a race
  // with another process, in effect); node.99 is a plain file.
  const files = {
    'app.js': `'use strict';
const fs = require('fs');
const net = require('net');
const path = require('path');
const dir = PhusionPassenger.options.socket_dir;
const taken = path.join(dir, 'node.ii');
net.createServer().listen(taken);
fs.writeFileSync(path.join(dir, 'node.99'), '');
const realLstat = fs.lstatSync;
fs.lstatSync = function (p, ...rest) {
  if (p === taken) { const e = new Error('ENOENT: hidden'); e.code = 'ENOENT'; throw e; }
  return realLstat.call(this, p, ...rest);
};
const values = [0.5, 0.5, 0.25, 0.25, 0.75, 0.75];
Math.random = () => values.shift();
const errors = [];
const server = require('http').createServer((req, res) => res.end(JSON.stringify({ errors, address: server.address() })));
server.on('error', (e) => errors.push(e.code));
server.listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    const socketPath = await app.ready();
    assert.strictEqual(socketPath, path.join(app.socketDir, 'node.rr'));
    const r = await app.json('/');
    assert.deepStrictEqual(r.errors, []);
    assert.strictEqual(r.address, socketPath);
  });
});

test('a socket directory too long for a unix socket path: the temp dir is used', async () => {
  const os = require('node:os');
  const long = fs.mkdtempSync(path.join(os.tmpdir(), `ferry-long-${'d'.repeat(100)}-`));
  try {
    const files = { 'app.js': "require('http').createServer((q, s) => s.end('ok')).listen(3000);\n" };
    await withApp({ files, args: { socket_dir: long } }, async (app) => {
      const socketPath = await app.ready();
      assert.strictEqual(path.dirname(socketPath), os.tmpdir());
      assert.match(path.basename(socketPath), /^FerryNodeApp\./);
      assert.strictEqual((await app.request('/')).body, 'ok');
      await app.stop();
      assert.ok(!fs.existsSync(socketPath));
    });
  } finally {
    fs.rmSync(long, { recursive: true, force: true });
  }
});
