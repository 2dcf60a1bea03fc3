// Tests of node-loader.js: loading CommonJS and ES-module apps, and every way a start can fail
// turning into a spawn error report (response/error/*, the failed step, a non-zero exit).
'use strict';

const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');
const { withApp, expectSpawnError } = require('./support/harness.js');
const { testRequiring } = require('./support/require.js');

const [NODE_MAJOR, NODE_MINOR] = process.versions.node.split('.').map(Number);

test('a .mjs startup file is loaded as an ES module', async () => {
  const files = {
    'server.mjs': `import http from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
await delay(20);
http.createServer((req, res) => res.end('mjs ' + typeof require)).listen(3000);
`,
  };
  await withApp({ files, startupFile: 'server.mjs' }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'mjs undefined');
  });
});

test('a "type": "module" package with top-level await before listen', async () => {
  const files = {
    'package.json': JSON.stringify({ type: 'module' }),
    'lib/config.js': 'export const greeting = "esm";\n',
    'app.js': `import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { greeting } from './lib/config.js';
const pkg = JSON.parse(await readFile(new URL('./package.json', import.meta.url), 'utf8'));
await new Promise((resolve) => setTimeout(resolve, 100));
const isMain = import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href;
http.createServer((req, res) => res.end(greeting + ' ' + pkg.type + ' main=' + isMain)).listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'esm module main=true');
    const load = app.step('subprocess_app_load_or_exec');
    const listen = app.step('subprocess_listen');
    assert.strictEqual(load.state, 'STEP_PERFORMED');
    assert.strictEqual(listen.state, 'STEP_PERFORMED');
    assert.ok(load.end - load.begin >= 0.09, `the load step covers the top-level await: ${JSON.stringify(load)}`);
    assert.ok(listen.begin >= load.end);
  });
});

test('an ES module still awaiting after listen() counts as loaded once it listens', async () => {
  const files = {
    'app.mjs': `import http from 'node:http';
import { once } from 'node:events';
const server = http.createServer((req, res) => res.end('serving'));
server.listen(3000);
await once(process, 'SIGUSR2'); // never comes
`,
  };
  await withApp({ files, startupFile: 'app.mjs' }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'serving');
    assert.strictEqual(app.step('subprocess_app_load_or_exec').state, 'STEP_PERFORMED');
  });
});

const DETECTS_MODULES = NODE_MAJOR >= 22 || (NODE_MAJOR === 20 && NODE_MINOR >= 19);
testRequiring('a .js file with ES module syntax and no "type" (Node module detection)', !DETECTS_MODULES && `needs Node 20.19+, this is ${process.version}`, async () => {
  const files = {
    'app.js': `import http from 'node:http';
await Promise.resolve();
http.createServer((req, res) => res.end('detected')).listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'detected');
  });
});

test('an app that throws while loading: spawn error with the stack', async () => {
  const files = {
    'app.js': `'use strict';
require('http').createServer(() => {}).listen(3000);
function connect() { throw new TypeError('cannot connect to the database'); }
connect();
`,
  };
  await withApp({ files }, async (app) => {
    const { exit } = await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: 'The application encountered the following error: cannot connect to the database (TypeError)',
    });
    assert.strictEqual(exit.code, 1);
    assert.strictEqual(app.readError('category'), 'INTERNAL_ERROR');
    const details = app.readError('advanced_problem_details');
    assert.match(details, /TypeError: cannot connect to the database/);
    assert.ok(details.includes(`at connect (${path.join(app.appRoot, 'app.js')}:3:`), details);
    assert.match(app.readError('problem_description.txt'), /could not be started/);
    assert.ok(app.readError('solution_description.txt'));
    assert.match(app.stderr, /cannot connect to the database/);
    assert.match(app.annotation('node_info'), /Node\.js v\d+/);
    assert.strictEqual(app.step('subprocess_listen').state, undefined, 'the listen step never began');
    assert.ok(!fs.existsSync(path.join(app.workDir, 'response', 'properties.json')));
  });
});

test('a syntax error in the startup file: spawn error naming the line', async () => {
  const files = { 'app.js': "const http = require('http');\nhttp.createServer(\n  (req, res) => res.end('x')\n.listen(3000);\nfoo bar;\n" };
  await withApp({ files }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: /^The application encountered the following error: .* \(SyntaxError\)$/,
    });
    assert.ok(app.readError('advanced_problem_details').includes(path.join(app.appRoot, 'app.js')));
  });
});

test('a syntax error in an ES module startup file: the report names the line', async () => {
  const files = { 'app.mjs': "import http from 'node:http';\nconst x = ;\n" };
  await withApp({ files, startupFile: 'app.mjs' }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: /^The application encountered the following error: Unexpected token ';' \(SyntaxError\)$/,
    });
    const details = app.readError('advanced_problem_details');
    assert.ok(details.startsWith(`${path.join(app.appRoot, 'app.mjs')}:2\nconst x = ;\n`), details);
  });
});

test('a syntax error in an imported ES module: Node prints its file and line', async () => {
  const files = {
    'app.mjs': "import './lib/broken.mjs';\n",
    'lib/broken.mjs': 'export const a = 1;\nexport const b = ;\n',
  };
  await withApp({ files, startupFile: 'app.mjs' }, async (app) => {
    const { exit } = await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: /\(SyntaxError\)$/,
    });
    assert.strictEqual(exit.code, 1);
    assert.ok(app.stderr.includes('lib/broken.mjs:2'), app.stderr);
  });
});

test('a load error is printed with the source line that raised it', async () => {
  const files = { 'app.js': "'use strict';\nconst config = undefined;\nconsole.log(config.port);\n" };
  await withApp({ files }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: /^The application encountered the following error: Cannot read properties of undefined \(reading 'port'\) \(TypeError\)$/,
    });
    const context = `${path.join(app.appRoot, 'app.js')}:3\nconsole.log(config.port);\n                   ^`;
    assert.ok(app.stderr.includes(context), app.stderr);
    assert.ok(app.readError('advanced_problem_details').startsWith(context));
  });
});

test("a load error in an app with its own uncaughtException handler still fails the spawn", async () => {
  const files = {
    'app.js': "process.on('uncaughtException', (e) => console.error('app handler', e.message));\nthrow new Error('at load');\n",
  };
  await withApp({ files }, async (app) => {
    const { exit } = await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: 'The application encountered the following error: at load (Error)',
    });
    assert.strictEqual(exit.code, 1);
  });
});

test('an ES module that rejects during its top-level await: spawn error', async () => {
  const files = {
    'app.mjs': `await new Promise((resolve) => setTimeout(resolve, 20));
throw new RangeError('bad configuration value');
`,
  };
  await withApp({ files, startupFile: 'app.mjs' }, async (app) => {
    const { exit } = await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: 'The application encountered the following error: bad configuration value (RangeError)',
    });
    assert.strictEqual(exit.code, 1);
    assert.match(app.readError('advanced_problem_details'), /app\.mjs:2/);
  });
});

test('a missing dependency: spawn error (MODULE_NOT_FOUND)', async () => {
  const files = { 'app.js': "require('no-such-package-for-ferry');\n" };
  await withApp({ files }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: /^The application encountered the following error: Cannot find module 'no-such-package-for-ferry' .*\(Error\)$/,
    });
    assert.match(app.readError('advanced_problem_details'), /MODULE_NOT_FOUND/);
  });
});

test('a missing startup file: FILE_SYSTEM_ERROR', async () => {
  await withApp({ files: { 'index.js': '' } }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: `The application's startup file ${path.join(app.appRoot, 'app.js')} does not exist`,
    });
    assert.strictEqual(app.readError('category'), 'FILE_SYSTEM_ERROR');
  });
});

test('an app that never listens: prompt spawn error at the listen step', async () => {
  const files = { 'app.js': "console.log('loaded, not listening');\nsetTimeout(() => {}, 200);\n" };
  await withApp({ files }, async (app) => {
    const { exit } = await expectSpawnError(app, {
      step: 'subprocess_listen',
      summary: 'The app loaded but never called listen() on an HTTP server',
    });
    assert.strictEqual(exit.code, 1);
    assert.ok(exit.at - app.started < 3000, `took ${exit.at - app.started} ms`);
    assert.strictEqual(app.step('subprocess_app_load_or_exec').state, 'STEP_PERFORMED');
    assert.match(app.readError('problem_description.txt'), /did not start an HTTP server/);
    assert.match(app.readError('solution_description.txt'), /createServer\(handler\)\.listen\(3000\)/);
    assert.match(app.readError('solution_description.txt'), /app\.listen\(3000\)/);
    assert.match(app.stdout, /loaded, not listening/);
    assert.match(app.stderr, /never called listen\(\)/);
  });
});

test("an app whose own beforeExit handler starts the server in time is not failed", async () => {
  const files = {
    'app.js': `'use strict';
let started = false;
process.on('beforeExit', () => {
  if (started) return;
  started = true;
  setTimeout(() => require('http').createServer((q, s) => s.end('late start')).listen(3000), 50);
});
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'late start');
  });
});

test('an ES module whose top-level await never settles: spawn error', async () => {
  const files = { 'app.mjs': 'await new Promise(() => {});\n' };
  await withApp({ files, startupFile: 'app.mjs' }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: /never finished loading: a top-level await/,
    });
  });
});

test('an uncaught exception after loading, before listening: spawn error with the stack', async () => {
  const files = {
    'app.js': `'use strict';
setTimeout(function openPool() { throw new Error('pool exhausted'); }, 30);
`,
  };
  await withApp({ files }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_listen',
      summary: 'The application encountered the following error: pool exhausted (Error)',
    });
    assert.match(app.readError('advanced_problem_details'), /at (Timeout\.)?openPool/);
  });
});

test('an unhandled rejection before listening: spawn error', async () => {
  const files = { 'app.js': "Promise.reject(new Error('rejected at start'));\n" };
  await withApp({ files }, async (app) => {
    await expectSpawnError(app, {
      summary: 'The application encountered the following error: rejected at start (Error)',
    });
  });
});

test("an exception in the app's listen callback: spawn error", async () => {
  const files = {
    'app.js': "require('http').createServer().listen(3000, () => { throw new Error('in listen callback'); });\n",
  };
  await withApp({ files }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_listen',
      summary: 'The application encountered the following error: in listen callback (Error)',
    });
  });
});

test('process.exit() during start-up: spawn error naming the status', async () => {
  const files = { 'app.js': "console.error('missing SECRET_KEY');\nprocess.exit(3);\n" };
  await withApp({ files }, async (app) => {
    const { exit } = await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: 'The application exited with status 3 during start-up, before it listened for requests',
    });
    assert.strictEqual(exit.code, 3);
  });
});

test('cluster.fork() from an ES module: spawn error explaining why', async () => {
  const files = {
    'app.mjs': `import cluster from 'node:cluster';
if (cluster.isPrimary) cluster.fork();
`,
  };
  await withApp({ files, startupFile: 'app.mjs' }, async (app) => {
    await expectSpawnError(app, {
      step: 'subprocess_app_load_or_exec',
      summary: /cluster\.fork\(\) was called\. Under Ferry, Ferry itself starts and load-balances/,
    });
  });
});

test('an uncaught exception in a request handler after start-up ends the process (Node semantics)', async () => {
  const files = {
    'app.js': `'use strict';
require('http').createServer((req, res) => {
  if (req.url === '/boom') throw new Error('handler failure');
  res.end('fine');
}).listen(3000);
`,
  };
  await withApp({ files }, async (app) => {
    await app.ready();
    assert.strictEqual((await app.request('/')).body, 'fine');
    await app.request('/boom').catch(() => null);
    const exit = await app.waitExit();
    assert.strictEqual(exit.code, 1);
    assert.match(app.stderr, /handler failure/);
    // After the handshake nothing is written as a spawn error.
    assert.strictEqual(app.readError('summary'), undefined);
  });
});
