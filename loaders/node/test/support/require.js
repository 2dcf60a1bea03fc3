// The skip policy of Ferry's tests (ferry_test_support::require), for node's test runner: a test
// that needs what this machine lacks is skipped with the reason, except under CI (CI=true or
// CI=1), where it fails instead: a test that cannot run must not pass there.
// (Like harness.js, this file defines no tests.)
'use strict';

const { test } = require('node:test');

function underCi() {
  const ci = (process.env.CI || '').toLowerCase();
  return ci === 'true' || ci === '1';
}

// `test(name, fn)` when `missing` is falsy; else skipped with `missing` as the reason (it says
// what is missing and what installs it), or, under CI, a test that fails with it.
function testRequiring(name, missing, fn) {
  if (!missing) {
    return test(name, fn);
  }
  if (underCi()) {
    return test(name, () => {
      throw new Error(`cannot run under CI (CI=true): ${missing}`);
    });
  }
  process.stderr.write(`SKIPPED: ${name}: ${missing}\n`);
  return test(name, { skip: missing }, fn);
}

module.exports = { underCi, testRequiring };
