// ferry-loader/app-loader.js: loads the app's startup file the way `node <startup file>` would.
//
// - `.mjs`, or `.js` whose nearest package.json says "type": "module": ES module, loaded with
//   import(), so top-level await works; the returned promise settles when the module graph has
//   finished evaluating.
// - Anything else: CommonJS, loaded synchronously as the *main* module, so `require.main ===
//   module` and `!module.parent` hold as they do under `node app.js` (Passenger's loader breaks
//   the common `if (require.main === module) app.listen(...)` idiom; Ferry's does not).
//   When Node refuses to require() the file because it is an ES module after all
//   (ERR_REQUIRE_ESM; or ERR_REQUIRE_ASYNC_MODULE for a module with top-level await, raised
//   before any of it runs), it is imported instead.
'use strict';

const fs = require('fs');
const path = require('path');
const Module = require('module');

// 'module' or 'commonjs', as Node decides for a file (extension, then nearest package.json).
function detectFormat(file) {
  const ext = path.extname(file);
  if (ext === '.mjs') return 'module';
  if (ext === '.cjs') return 'commonjs';
  if (ext !== '.js') return 'commonjs';
  for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
    let text;
    try {
      text = fs.readFileSync(path.join(dir, 'package.json'), 'utf8');
    } catch (_) {
      text = null;
    }
    if (text !== null) {
      try {
        return JSON.parse(text).type === 'module' ? 'module' : 'commonjs';
      } catch (_) {
        return 'commonjs'; // Node itself reports the broken package.json when it matters.
      }
    }
    if (path.dirname(dir) === dir) return 'commonjs';
  }
}

function importFile(file) {
  const { pathToFileURL } = require('url');
  return import(pathToFileURL(file).href);
}

// Returns {format, promise}: promise is null when a CommonJS load has already completed
// (synchronously; a load error is thrown), else it settles when the ES module has evaluated.
function loadApp(file) {
  if (detectFormat(file) === 'module') {
    return { format: 'module', promise: importFile(file) };
  }
  try {
    requireAsMain(file);
    return { format: 'commonjs', promise: null };
  } catch (e) {
    if (e && isRequireOfEsm(e, file)) {
      return { format: 'module', promise: importFile(file) };
    }
    throw e;
  }
}

function isRequireOfEsm(err, file) {
  if (err.code === 'ERR_REQUIRE_ASYNC_MODULE') return String(err.message).includes(file);
  if (err.code === 'ERR_REQUIRE_ESM') return String(err.message).startsWith(`require() of ES Module ${file} `);
  return false;
}

function requireAsMain(file) {
  const mod = new Module(file, null);
  mod.id = '.';
  process.mainModule = mod;
  Module._cache[file] = mod;
  let threw = true;
  try {
    mod.load(file);
    threw = false;
  } finally {
    if (threw) delete Module._cache[file];
  }
  return mod.exports;
}

module.exports = { detectFormat, loadApp };
