// node-no-listen: loads without errors but never starts an HTTP server. Ferry's integration
// tests use it to check the spawn error ("never called listen()") arrives promptly.
'use strict';

console.log('node-no-listen: loaded, and not listening on purpose');
