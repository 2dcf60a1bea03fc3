// ferry-loader/listen.js: redirects the app's HTTP server to the unix socket Ferry talks to.
//
// http.Server.prototype.listen is replaced (https.Server, tls and plain net servers do not inherit
// from http.Server and are left alone; Express's app.listen(), Koa's and the like go through
// http.createServer(...).listen(...) and are covered). The first HTTP server that calls listen(),
// with any argument form Node accepts (port, port+host, port+backlog, options object, path,
// handle, no arguments, 'passenger'), instead listens on <socket_dir>/node.<random>. Its callback
// and its 'listening' event fire as Node would fire them; server.address() then returns the
// socket's path, as Node does for every unix-socket server.
//
// A second HTTP server's listen() throws (as under Passenger): only one server can be Ferry's,
// and silently letting the second one bind the port the app asked for would work in one process
// and fail with EADDRINUSE in the next. Apps that want more HTTP servers call
// PhusionPassenger.configure({autoInstall: false}) first: then only listen('passenger') (or
// '/passenger', or {path: 'passenger'}) is redirected and every other listen() is untouched.
//
// Nothing is added to the request path: the server object is Node's own, unchanged.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const MAX_BIND_TRIES = 100;

function toBacklog(value) {
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

// Node reads the backlog from the options object, or from the first numeric argument after
// the first one (listen(port, host, backlog), listen(port, backlog), listen(path, backlog)).
function listenBacklog(args) {
  const first = args[0];
  if (first !== null && typeof first === 'object') return toBacklog(first.backlog);
  for (const arg of args.slice(1, 3)) {
    if (typeof arg === 'number' || (typeof arg === 'string' && /^\d+$/.test(arg))) {
      const b = toBacklog(arg);
      if (b !== undefined) return b;
    }
  }
  return undefined;
}

function isPassengerTarget(args) {
  const names = (v) => v === 'passenger' || v === '/passenger';
  const first = args[0];
  if (names(first)) return true;
  return first !== null && typeof first === 'object' && (names(first.path) || names(first.port));
}

function randomName() {
  return Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 10);
}

// hooks: {socketDir, unixPathMax, onListenCalled(server), onListening(server, socketPath),
//         onListenError(server, err)}
function install(hooks) {
  const originalListen = http.Server.prototype.listen;
  const state = { autoInstall: true, server: null, socketPath: null };

  function newSocketPath() {
    let dir = hooks.socketDir;
    let prefix = 'node.';
    const max = hooks.unixPathMax || 107;
    if (!dir || dir.length + 1 + prefix.length + 16 > max) {
      if (dir) {
        process.stderr.write(`Ferry: socket directory ${dir} is too long for a unix socket path; using the temp dir\n`);
      }
      dir = require('os').tmpdir();
      prefix = 'FerryNodeApp.';
    }
    for (let i = 0; i < MAX_BIND_TRIES; i++) {
      const candidate = path.join(dir, prefix + randomName());
      try {
        fs.lstatSync(candidate);
      } catch (e) {
        if (e.code === 'ENOENT') return candidate;
      }
    }
    throw new Error(`Ferry could not find a free socket name in ${dir}`);
  }

  function redirect(server, args) {
    state.server = server;
    const last = args[args.length - 1];
    const callback = typeof last === 'function' ? last : null;
    const first = args[0];
    const signal = first !== null && typeof first === 'object' && first.signal ? first.signal : undefined;
    const backlog = listenBacklog(args);
    hooks.onListenCalled(server);

    // Retry another name on EADDRINUSE without the app seeing the error: while binding, this
    // instance's emit() swallows that one error (Node emits listen errors through emit()).
    let tries = 0;
    const hadOwnEmit = Object.prototype.hasOwnProperty.call(server, 'emit');
    const savedEmit = server.emit;
    const restore = () => {
      if (server.emit !== wrappedEmit) return;
      if (hadOwnEmit) server.emit = savedEmit;
      else delete server.emit;
    };
    function wrappedEmit(event, arg) {
      if (event === 'error' && arg && arg.code === 'EADDRINUSE' && tries < MAX_BIND_TRIES) {
        attempt();
        return true;
      }
      if (event === 'listening' || event === 'error') {
        restore();
        if (event === 'error') hooks.onListenError(server, arg);
      }
      return savedEmit.apply(this, arguments);
    }
    function attempt() {
      tries++;
      state.socketPath = newSocketPath();
      const options = { path: state.socketPath };
      if (backlog !== undefined) options.backlog = backlog;
      if (signal) options.signal = signal;
      originalListen.call(server, options);
    }

    if (callback) server.once('listening', callback);
    server.once('listening', () => hooks.onListening(server, state.socketPath));
    server.emit = wrappedEmit;
    try {
      attempt();
    } catch (e) {
      restore();
      throw e;
    }
    return server;
  }

  http.Server.prototype.listen = function listen(...args) {
    if (!state.autoInstall && !isPassengerTarget(args)) {
      return originalListen.apply(this, args);
    }
    if (state.server) {
      throw new Error(
        state.autoInstall
          ? 'listen() was called on a second HTTP server (or a second time). Under Ferry, the ' +
            'first HTTP server that listens is the app\'s server, and Ferry connects it to a ' +
            'private unix socket; a second one cannot be served. To run more HTTP servers, call ' +
            'PhusionPassenger.configure({autoInstall: false}) before listening and start the ' +
            'server Ferry should serve with listen(\'passenger\'): every other listen() then ' +
            'binds where it asks.'
          : 'listen(\'passenger\') may be called only once.'
      );
    }
    return redirect(this, args);
  };

  return {
    configure(options) {
      state.autoInstall = !(options && options.autoInstall === false);
    },
    get server() {
      return state.server;
    },
    get socketPath() {
      return state.socketPath;
    },
  };
}

module.exports = { install, listenBacklog, isPassengerTarget };
