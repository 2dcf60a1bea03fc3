// node-loader.js: Ferry's loader for Node.js apps (see loaders/PROTOCOL.md).
//
// Ferry runs `node <ferry_root>/loaders/node/node-loader.js` in the app root with
// PASSENGER_SPAWN_WORK_DIR set and a pipe on stdin. The loader
//   1. reads args.json, sets the process title and the `PhusionPassenger` global,
//   2. makes the app's first HTTP server listen on a private unix socket (lib/ferry-loader/listen.js)
//      and hands `cluster` users a stand-in module (lib/ferry-loader/cluster.js),
//   3. loads the startup file, CommonJS or ES module (lib/ferry-loader/app-loader.js),
//   4. once the app is loaded and its server listens, writes properties.json (protocol `http`,
//      concurrency 0) and "1" into response/finish; every failure before that (load error, an
//      uncaught exception, an app that never listens, an early exit) becomes a spawn error report,
//   5. stops when stdin reaches end of file: the app's own shutdown hooks if it has any
//      (PhusionPassenger 'exit', process 'message' 'shutdown'), else it closes the server, lets
//      requests in progress finish (at most SHUTDOWN_GRACE_MS) and exits 0.
// Requests go straight from Node's http module to the app: the loader adds nothing per request.
'use strict';

const fs = require('fs');
const path = require('path');
const EventEmitter = require('events');

const LIB = path.join(__dirname, 'lib', 'ferry-loader');
const { WorkDir, STEPS, monotonic } = require(path.join(LIB, 'workdir.js'));

// Upper bound on a graceful stop without app hooks: in-flight requests get this long.
const SHUTDOWN_GRACE_MS = 10000;
// While stopping, idle keep-alive connections are closed this often (Node's server.close()
// only closes the ones idle at the moment it is called).
const IDLE_SWEEP_MS = 50;

const workDirPath = process.env.PASSENGER_SPAWN_WORK_DIR;
if (!workDirPath) {
  process.stderr.write(
    'node-loader.js is started by Ferry (or Passenger) to run a Node.js app: ' +
      'PASSENGER_SPAWN_WORK_DIR is not set.\n'
  );
  process.exit(1);
}
const workDir = new WorkDir(workDirPath);

const state = {
  step: STEPS.EXEC_WRAPPER,
  args: {},
  startupFile: null,
  format: null, // 'commonjs' | 'module', once known
  appLoaded: false,
  listenCalled: false,
  listenError: null,
  listening: false,
  finished: false,
  failed: false, // a spawn error was reported
  shuttingDown: false,
};
let listenControl = null;

function debug(message) {
  if (Number(state.args.log_level) >= 5) process.stderr.write(`[ferry node-loader] ${message}\n`);
}

function beginStep(step) {
  state.step = step;
  workDir.stepBegin(step);
}

// --- spawn errors --------------------------------------------------------------------------

function errorName(err) {
  if (err instanceof Error) return err.name || err.constructor.name || 'Error';
  return err === null ? 'null' : typeof err;
}

function errorMessage(err) {
  if (err instanceof Error) return err.message;
  if (err !== null && typeof err === 'object' && typeof err.message === 'string') return err.message;
  return String(err);
}

function describeError(err) {
  const util = require('util');
  return util.inspect(err, { depth: 4 });
}

function errorCategory(err) {
  if (err && typeof err === 'object' && typeof err.syscall === 'string') {
    return 'OPERATING_SYSTEM_ERROR';
  }
  return 'INTERNAL_ERROR';
}

function nodeInfo() {
  return [
    `Node.js ${process.version} (${process.execPath})`,
    `platform: ${process.platform} ${process.arch}`,
    `startup file: ${state.startupFile || '(not determined)'}`,
    `module format: ${state.format || '(not determined)'}`,
    `working directory: ${process.cwd()}`,
    `NODE_PATH: ${process.env.NODE_PATH || ''}`,
    `NODE_OPTIONS: ${process.env.NODE_OPTIONS || ''}`,
    `NODE_ENV: ${process.env.NODE_ENV || ''}`,
    '',
  ].join('\n');
}

// Reports a spawn error (once): the current step errored, response/error/*, an annotation.
function reportSpawnError(report) {
  if (state.failed || state.finished) return false;
  state.failed = true;
  workDir.stepEnd(state.step, 'STEP_ERRORED');
  workDir.writeError(report);
  workDir.annotate('node_info', nodeInfo());
  return true;
}

function failAndExit(report) {
  if (reportSpawnError(report)) {
    process.stderr.write(`${report.summary}\n${report.details ? `${report.details}\n` : ''}`);
  }
  process.exit(1);
}

function appErrorReport(err, when) {
  const details = describeError(err);
  return {
    category: errorCategory(err),
    summary: `The application encountered the following error: ${errorMessage(err)} (${errorName(err)})`,
    problem:
      `The Node.js application could not be started: ${when} it raised an error ` +
      `(${errorName(err)}: ${errorMessage(err)}).\n`,
    solution:
      'Fix the error in the application; the stack trace in the details below shows where ' +
      'it was raised. Then restart the application.\n',
    details,
  };
}

// --- start-up ------------------------------------------------------------------------------

// The exec-wrapper step began when the node process started.
workDir.stepBegin(STEPS.EXEC_WRAPPER, monotonic(process.uptime()));
workDir.stepEnd(STEPS.EXEC_WRAPPER, 'STEP_PERFORMED');
beginStep(STEPS.PREPARATION);

try {
  state.args = JSON.parse(fs.readFileSync(workDir.file('args.json'), 'utf8'));
} catch (e) {
  failAndExit({
    category: e.code ? 'FILE_SYSTEM_ERROR' : 'INTERNAL_ERROR',
    summary: `The Node.js loader could not read its arguments (${workDir.file('args.json')}): ${e.message}`,
    details: describeError(e),
  });
}
const args = state.args;

process.title = `${args.process_title || 'Ferry NodeApp'}: ${args.app_group_name || args.app_root || process.cwd()}`;

const appRoot = args.app_root || process.cwd();
state.startupFile = path.resolve(appRoot, args.startup_file || 'app.js');

// The PhusionPassenger global that apps written for Passenger use.
const PhusionPassenger = new EventEmitter();
PhusionPassenger.options = args;
PhusionPassenger.configure = function configure(options) {
  listenControl.configure(options);
};
global.PhusionPassenger = PhusionPassenger;

require(path.join(LIB, 'cluster.js')).install();

listenControl = require(path.join(LIB, 'listen.js')).install({
  socketDir: args.socket_dir,
  unixPathMax: Number(args.UNIX_PATH_MAX) || 107,
  onListenCalled() {
    state.listenCalled = true;
    debug('the app called listen() on its HTTP server');
  },
  onListenError(server, err) {
    state.listenError = err;
  },
  onListening(server, socketPath) {
    debug(`listening on ${socketPath}`);
    // Let the app's own 'listening' handlers and the rest of this tick run first: an error
    // they raise is still a spawn error.
    setImmediate(() => {
      state.listening = true;
      if (!state.appLoaded) {
        // An ES module whose top-level code still awaits something after listen(): it serves
        // requests already, so it counts as loaded.
        debug('the app listens while its top-level await is still pending');
        appLoaded();
      }
      maybeFinish();
    });
  },
});

// An uncaught exception before `finish` is a spawn error (Node then prints it and exits as
// usual). After `finish` Node's semantics are kept: the process dies and Ferry replaces it.
process.on('uncaughtExceptionMonitor', onUncaughtBeforeFinish);
function onUncaughtBeforeFinish(err) {
  if (state.finished || process.listenerCount('uncaughtException') > 0) return;
  reportSpawnError(appErrorReport(err, state.appLoaded ? 'after loading,' : 'while loading,'));
}

// The event loop ran empty before the app listened: it never will.
process.on('beforeExit', onBeforeExitBeforeFinish);
function onBeforeExitBeforeFinish() {
  if (state.finished || state.failed) return;
  // The app's own beforeExit handlers (they run after this one) may schedule more work, maybe
  // a listen(): decide once they have run.
  if (process.listenerCount('beforeExit') > 1) {
    setImmediate(() => {
      if (!hasPendingWork()) neverListened();
    });
    return;
  }
  neverListened();
}

function neverListened() {
  if (state.finished || state.failed) return;
  if (!state.appLoaded) {
    failAndExit({
      summary:
        'The application\'s startup file never finished loading: a top-level await in it ' +
        'waits for something that can no longer happen',
      problem:
        `The ES module ${state.startupFile} (or a module it imports) awaits a promise at its ` +
        'top level, but the event loop has nothing left to do, so that promise can never ' +
        'settle and the app never got to listen for requests.\n',
      solution:
        'Make sure every top-level await in the app settles (for example, that a connection ' +
        'it waits for is actually being made), then restart the application.\n',
    });
  }
  if (state.listenError) {
    const err = state.listenError;
    failAndExit({
      category: errorCategory(err),
      summary: `The application called listen(), but listening failed: ${errorMessage(err)} (${errorName(err)})`,
      problem: 'The app\'s HTTP server could not listen on the unix socket Ferry gave it.\n',
      solution: 'Check that Ferry\'s socket directory is writable by the app\'s user.\n',
      details: describeError(err),
    });
  }
  failAndExit({
    summary: 'The app loaded but never called listen() on an HTTP server',
    problem:
      `The startup file ${state.startupFile} was loaded without errors, but it did not start an ` +
      'HTTP server: nothing called listen() on an http.Server, and the app has no work left ' +
      'that could still do so. Ferry passes requests to the HTTP server the app starts, so ' +
      'without one there is nothing to send requests to.\n',
    solution:
      'Make the startup file start an HTTP server, for example\n\n' +
      '    http.createServer(handler).listen(3000)\n\n' +
      'or, with Express, app.listen(3000) (the port does not matter: Ferry connects the first ' +
      'HTTP server that listens to its own socket). If the server is started only when the file ' +
      'is run directly (if (require.main === module) ...), that still works under Ferry. ' +
      'If the startup file is not the right file, set the app\'s startup file (--startup-file).\n',
  });
}

// Whether the event loop has work besides stdio (process.getActiveResourcesInfo: Node >= 17).
function hasPendingWork() {
  if (typeof process.getActiveResourcesInfo !== 'function') return false;
  const stdio = new Set(['TTYWrap', 'PipeWrap']);
  return process.getActiveResourcesInfo().some((r) => !stdio.has(r));
}

// process.exit() (or a fatal signal Node handles) during start-up.
process.on('exit', onExit);
function onExit(code) {
  if (state.finished) {
    removeSocketFile();
    return;
  }
  if (state.failed) return;
  reportSpawnError({
    summary: `The application exited with status ${code} during start-up, before it listened for requests`,
    problem:
      `The Node.js process ended (process.exit(${code}) or an equivalent) while ` +
      `${state.appLoaded ? 'the app was starting' : 'its startup file was being loaded'}, ` +
      'before its HTTP server listened.\n',
    solution: 'Check the application output below for the reason it exited.\n',
  });
}

workDir.stepEnd(STEPS.PREPARATION, 'STEP_PERFORMED');

// --- loading the app -----------------------------------------------------------------------

beginStep(STEPS.APP_LOAD);
try {
  fs.accessSync(state.startupFile, fs.constants.R_OK);
} catch (e) {
  failAndExit({
    category: 'FILE_SYSTEM_ERROR',
    summary:
      e.code === 'ENOENT'
        ? `The application's startup file ${state.startupFile} does not exist`
        : `The application's startup file ${state.startupFile} cannot be read: ${e.message}`,
    problem: `Ferry runs a Node.js app by loading its startup file, ${state.startupFile}.\n`,
    solution:
      'Put the app\'s entry point there (app.js in the app root by default), or tell Ferry ' +
      'where it is with the startup file setting (--startup-file).\n',
    details: describeError(e),
  });
}

// The app sees itself as the main script, as under `node <startup file>`.
process.argv[1] = state.startupFile;

const { loadApp } = require(path.join(LIB, 'app-loader.js'));
let loaded;
try {
  loaded = loadApp(state.startupFile);
} catch (e) {
  loadFailed(e);
  throw e; // (only reached when Node is to print it, see loadFailed)
}
state.format = loaded.format;
if (loaded.promise) {
  loaded.promise.then(
    () => appLoaded(),
    (e) => {
      loadFailed(e);
      process.nextTick(() => {
        throw e;
      });
    }
  );
} else {
  appLoaded();
}

// The startup file (or a module it loads) raised an error: report it (unless the app was
// already serving, its top-level await failing later), print it as `node <startup file>`
// would, with the offending source line, and exit 1. Returns only when the caller is to rethrow
// the error instead, for Node to print: a syntax error in an imported ES module, whose file and
// line Node keeps out of the error object.
function loadFailed(err) {
  const hidden = isUnlocatedSyntaxError(err);
  const context = hidden ? checkSyntax(state.startupFile) : sourceContext(err);
  let summary = null;
  if (!state.finished) {
    const report = appErrorReport(err, `while its startup file ${state.startupFile} was being loaded,`);
    if (context) report.details = `${context}\n\n${report.details}`;
    if (reportSpawnError(report)) summary = report.summary;
  }
  if (summary) process.stderr.write(`${summary}\n`);
  if (hidden && !context && process.listenerCount('uncaughtException') === 0) return;
  process.stderr.write(`${context ? `${context}\n\n` : ''}${describeError(err)}\n`);
  process.exit(1);
}

function isUnlocatedSyntaxError(err) {
  return err instanceof SyntaxError && !/^(file:\/\/|\/)[^\n]*:\d+\n/.test(String(err.stack));
}

// `node --check` on the startup file: where its syntax error is, or null.
function checkSyntax(file) {
  try {
    const check = require('child_process').spawnSync(process.execPath, ['--check', file], {
      encoding: 'utf8',
      timeout: 10000,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    if (check.status === 0 || !check.stderr) return null;
    // Keep the location, the source line and the caret (the message follows in the report).
    return check.stderr.split(/\n\s*\n/)[0].trim();
  } catch (_) {
    return null;
  }
}

// "file:line", the source line and a caret under the column of the first stack frame in the
// app's code, as Node prints above an uncaught error.
function sourceContext(err) {
  if (!(err instanceof Error) || typeof err.stack !== 'string') return null;
  if (/^(file:\/\/|\/)[^\n]*:\d+\n/.test(err.stack)) return null; // already there
  for (const line of err.stack.split('\n').slice(1)) {
    const m = /^\s+at (?:.*\()?((?:file:\/\/)?\/[^()]*?):(\d+):(\d+)\)?$/.exec(line);
    if (!m) continue;
    let file = m[1];
    if (file.startsWith('file://')) {
      try {
        file = require('url').fileURLToPath(file);
      } catch (_) {
        continue;
      }
    }
    if (file.startsWith(__dirname + path.sep)) return null; // not in the app
    try {
      const source = fs.readFileSync(file, 'utf8').split('\n')[Number(m[2]) - 1];
      if (source === undefined) return null;
      return `${file}:${m[2]}\n${source}\n${' '.repeat(Math.max(0, Number(m[3]) - 1))}^`;
    } catch (_) {
      return null;
    }
  }
  return null;
}

function appLoaded() {
  if (state.appLoaded) return;
  state.appLoaded = true;
  workDir.stepEnd(STEPS.APP_LOAD, 'STEP_PERFORMED');
  beginStep(STEPS.LISTEN);
  debug(`loaded ${state.startupFile} (${state.format})`);
  maybeFinish();
}

// --- ready ---------------------------------------------------------------------------------

function maybeFinish() {
  if (!state.appLoaded || !state.listening || state.finished || state.failed) return;
  const socketPath = listenControl.socketPath;
  try {
    fs.chmodSync(socketPath, 0o600);
  } catch (e) {
    debug(`chmod ${socketPath}: ${e.message}`);
  }
  const written = workDir.writeProperties({
    sockets: [
      {
        name: 'main',
        address: `unix:${socketPath}`,
        protocol: 'http',
        concurrency: 0,
        accept_http_requests: true,
      },
    ],
  });
  if (!written) {
    failAndExit({ summary: 'The Node.js loader could not write response/properties.json' });
  }
  workDir.stepEnd(STEPS.LISTEN, 'STEP_PERFORMED');
  state.finished = true;
  process.removeListener('uncaughtExceptionMonitor', onUncaughtBeforeFinish);
  process.removeListener('beforeExit', onBeforeExitBeforeFinish);
  workDir.signalFinish();
  watchStdin();
}

// --- stopping ------------------------------------------------------------------------------

function watchStdin() {
  const stdin = process.stdin;
  const stop = () => shutdown();
  stdin.on('end', stop);
  stdin.on('close', stop);
  stdin.on('error', stop);
  stdin.on('data', () => {});
  // Watching stdin must not keep the process alive on its own: an app that closes its server
  // and everything else still exits by itself, as it would outside Ferry.
  if (typeof stdin.unref === 'function') stdin.unref();
}

function removeSocketFile() {
  const socketPath = listenControl && listenControl.socketPath;
  if (!socketPath) return;
  try {
    fs.unlinkSync(socketPath);
  } catch (_) {
    // Already gone (Node removes it when the server closes).
  }
}

function shutdown() {
  if (state.shuttingDown) return;
  state.shuttingDown = true;
  debug('stdin closed: shutting down');
  removeSocketFile();
  // Apps with their own shutdown hooks (as under Passenger) stop themselves.
  if (PhusionPassenger.listenerCount('exit') > 0) {
    PhusionPassenger.emit('exit');
    return;
  }
  if (process.listenerCount('message') > 0) {
    process.emit('message', 'shutdown');
    return;
  }
  const exit = () => process.exit(0);
  const server = listenControl.server;
  if (!server || !server.listening) {
    exit();
    return;
  }
  server.close(exit);
  setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
  setTimeout(exit, SHUTDOWN_GRACE_MS).unref();
}
