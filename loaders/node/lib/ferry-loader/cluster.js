// ferry-loader/cluster.js: keeps apps from running their own process manager under Ferry.
//
// Ferry starts, counts and load-balances an app's processes itself. An app that forks `cluster`
// workers would fight it (and every worker would re-run the loader, the handshake included), so:
//
// - require('cluster') / require('node:cluster') from CommonJS code returns a stand-in that says
//   "this process is a worker" (isPrimary/isMaster false, isWorker true). The usual
//   `if (cluster.isPrimary) { fork... } else { listen }` app then simply runs its worker branch in
//   this one process. A warning is printed once.
// - The real module (what ES modules get from `import cluster from 'node:cluster'`, which no
//   require hook can reach) keeps its fields, because Node's own `net` module reads them, but its
//   fork() throws an error that explains the situation.
'use strict';

const EventEmitter = require('events');
const Module = require('module');

const ADVICE =
  'Under Ferry, Ferry itself starts and load-balances the processes of an app ' +
  '(--max-pool-size, --min-instances); the cluster module cannot be used to fork workers.';

function createStub() {
  const stub = new EventEmitter();
  const worker = new EventEmitter();
  Object.assign(worker, {
    id: 1,
    process,
    exitedAfterDisconnect: undefined,
    isConnected: () => false,
    isDead: () => false,
    send: () => false,
    disconnect: () => worker,
    kill: () => {},
    destroy: () => {},
  });
  Object.assign(stub, {
    isPrimary: false,
    isMaster: false,
    isWorker: true,
    worker,
    workers: undefined,
    settings: {},
    SCHED_NONE: 1,
    SCHED_RR: 2,
    schedulingPolicy: 2,
    fork() {
      throw forkError();
    },
    setupPrimary() {},
    setupMaster() {},
    disconnect(callback) {
      if (typeof callback === 'function') process.nextTick(callback);
    },
  });
  return stub;
}

function forkError() {
  return new Error(`cluster.fork() was called. ${ADVICE}`);
}

function install() {
  let stub = null;
  const originalRequire = Module.prototype.require;
  Module.prototype.require = function require(id) {
    if (id === 'cluster' || id === 'node:cluster') {
      if (!stub) {
        stub = createStub();
        process.stderr.write(
          'Ferry: this app loaded the cluster module. ' + ADVICE +
          ' The app gets a stand-in module that reports this process as a cluster worker.\n'
        );
      }
      return stub;
    }
    return originalRequire.apply(this, arguments);
  };
  // The real module: only reachable from ES modules now.
  const realCluster = originalRequire.call(module, 'cluster');
  realCluster.fork = function fork() {
    throw forkError();
  };
}

module.exports = { install };
