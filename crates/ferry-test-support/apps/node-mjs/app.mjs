// node-mjs: an ES-module app whose startup file is app.mjs (no package.json "type"), for
// Ferry's integration tests (start it with the startup file set to app.mjs).
//   GET / -> "mjs ok"
import http from 'node:http';

http
  .createServer((req, res) => {
    const ok = req.url.split('?')[0] === '/';
    const text = ok ? 'mjs ok' : 'not found';
    res.writeHead(ok ? 200 : 404, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  })
  .listen(Number(process.env.PORT) || 3000);
