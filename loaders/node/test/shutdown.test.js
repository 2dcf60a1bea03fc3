// Tests of node-loader.js stopping: end of file on stdin (graceful: requests in progress finish,
// idle keep-alive connections do not hold the exit, the app's exit hooks run), the app's own
// PhusionPassenger 'exit' / process 'message' hooks, SIGTERM, and an app that ends by itself.
'use strict';

const assert = require('node:assert');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { test } = require('node:test');
const { withApp, sleep } = require('./support/harness.js');

test("stdin EOF: exit 0, socket removed, the app's process 'exit' listeners ran", async () => {
  const files = {
    'app.js': `'use strict';
const fs = require('fs');
process.on('exit', (code) => fs.writeFileSync(__dirname + '/exit-marker', 'exit ' + code));
require('http').createServer((req, res) => res.end('up')).listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    const socketPath = await app.ready();
    assert.strictEqual((await app.request('/')).body, 'up');
    const stopAt = Date.now();
    const exit = await app.stop();
    assert.deepStrictEqual([exit.code, exit.signal], [0, null]);
    assert.ok(exit.at - stopAt < 2000, `took ${exit.at - stopAt} ms`);
    assert.strictEqual(fs.readFileSync(path.join(app.appRoot, 'exit-marker'), 'utf8'), 'exit 0');
    assert.ok(!fs.existsSync(socketPath));
  });
});

test('stdin EOF: a request in progress finishes, idle keep-alive connections do not hold the exit', async () => {
  const files = {
    'app.js': `'use strict';
require('http').createServer((req, res) => {
  if (req.url === '/slow') {
    res.write('start;');
    setTimeout(() => res.end('end'), 400);
  } else {
    res.end('quick');
  }
}).listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    // An idle keep-alive connection (Node's keepAliveTimeout would keep it for 5 s).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.strictEqual((await app.request('/', { agent })).body, 'quick');
    // A request in progress on another connection.
    const slow = app.request('/slow');
    await sleep(100);
    const stopAt = Date.now();
    app.child.stdin.end();
    const res = await slow;
    assert.strictEqual(res.body, 'start;end');
    const exit = await app.waitExit();
    assert.deepStrictEqual([exit.code, exit.signal], [0, null]);
    assert.ok(exit.at - stopAt >= 250, 'waited for the request');
    assert.ok(exit.at - stopAt < 3000, `took ${exit.at - stopAt} ms`);
    agent.destroy();
  });
});

test("stdin EOF with a keep-alive connection that is busy: it is closed once its response is done", async () => {
  const files = {
    'app.js': `'use strict';
require('http').createServer((req, res) => {
  setTimeout(() => res.end('done ' + req.url), req.url === '/slow' ? 300 : 0);
}).listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.strictEqual((await app.request('/first', { agent })).body, 'done /first');
    const slow = app.request('/slow', { agent }); // reuses the kept connection
    await sleep(50);
    const stopAt = Date.now();
    app.child.stdin.end();
    assert.strictEqual((await slow).body, 'done /slow');
    const exit = await app.waitExit();
    assert.strictEqual(exit.code, 0);
    assert.ok(exit.at - stopAt < 2000, `took ${exit.at - stopAt} ms`);
    agent.destroy();
  });
});

test("stdin EOF with PhusionPassenger 'exit' listeners: they run and the app exits by itself", async () => {
  const files = {
    'app.js': `'use strict';
const fs = require('fs');
const server = require('http').createServer((req, res) => res.end('up')).listen(3000);
PhusionPassenger.on('exit', () => {
  fs.writeFileSync(__dirname + '/hook-marker', 'listening=' + server.listening);
  setTimeout(() => process.exit(0), 50); // e.g. after flushing something
});
`,
  };
  await withApp({ files }, async (app) => {
    const socketPath = await app.ready();
    const exit = await app.stop();
    assert.deepStrictEqual([exit.code, exit.signal], [0, null]);
    // The app owns its shutdown: its server was still open when the hook ran.
    assert.strictEqual(fs.readFileSync(path.join(app.appRoot, 'hook-marker'), 'utf8'), 'listening=true');
    assert.ok(!fs.existsSync(socketPath), 'the socket file is removed');
  });
});

test("stdin EOF with process 'message' listeners: they get 'shutdown'", async () => {
  const files = {
    'app.js': `'use strict';
const fs = require('fs');
require('http').createServer((req, res) => res.end('up')).listen(3000);
process.on('message', (msg) => {
  fs.writeFileSync(__dirname + '/message-marker', String(msg));
  process.exit(0);
});
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    const exit = await app.stop();
    assert.strictEqual(exit.code, 0);
    assert.strictEqual(fs.readFileSync(path.join(app.appRoot, 'message-marker'), 'utf8'), 'shutdown');
  });
});

test('stdin EOF while the app keeps other work alive (an interval): still exits 0', async () => {
  const files = {
    'app.js': `'use strict';
setInterval(() => {}, 1000);
require('http').createServer((req, res) => res.end('up')).listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    const exit = await app.stop();
    assert.deepStrictEqual([exit.code, exit.signal], [0, null]);
  });
});

test('SIGTERM ends the process at once (default Node behaviour)', async () => {
  const files = { 'app.js': "require('http').createServer((q, s) => s.end('up')).listen(3000);\n" };
  await withApp({ files }, async (app) => {
    await app.ready();
    app.child.kill('SIGTERM');
    const exit = await app.waitExit(5000);
    assert.strictEqual(exit.signal, 'SIGTERM');
  });
});

test('an app that closes its own server and has nothing left to do exits by itself', async () => {
  const files = {
    'app.js': `'use strict';
const server = require('http').createServer((req, res) => {
  res.end('bye');
  server.close();
}).listen(3000);
server.keepAliveTimeout = 100;
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'bye');
    const exit = await app.waitExit(5000); // stdin is still open
    assert.deepStrictEqual([exit.code, exit.signal], [0, null]);
  });
});
