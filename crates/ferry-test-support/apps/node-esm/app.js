// node-esm: an ES-module app ("type": "module" in package.json) for Ferry's integration tests.
// It awaits at the top level before it listens, which only works when the loader import()s it.
//   GET / -> "esm ok"
import http from 'node:http';
import { readFile } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('./package.json', import.meta.url), 'utf8'));
const body = pkg.type === 'module' ? 'esm ok' : 'esm: unexpected package.json';

http
  .createServer((req, res) => {
    const status = req.url === '/' || req.url.split('?')[0] === '/' ? 200 : 404;
    const text = status === 200 ? body : 'not found';
    res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  })
  .listen(Number(process.env.PORT) || 3000);
