// node-test: the Node.js fixture app of Ferry's integration tests.
//
// Plain `http` module, no npm dependencies. Listens on 127.0.0.1:$PORT when run as a generic app
// (Ferry picks the port); under Ferry's Node loader the `listen()` call is redirected anyway.
// Every response carries `X-Pid` so a test can tell which process answered.
//
//   GET  /pid              -> the process id, as text
//   GET  /hello            -> "hello"
//   ANY  /headers          -> JSON {method, url, httpVersion, headers}
//   POST /upload (or PUT)  -> JSON {bytes, sha256, transferEncoding, contentLength}, body hashed as it streams
//   GET  /download?bytes=N[&chunked=1] -> N bytes of the pattern byte[i] = i % 251, with backpressure
//   GET  /slow?ms=N        -> head + "start\n" at once, then "end pid=<pid>\n" after N ms
//   GET  /chunked          -> a chunked response made of several writes
//   anything else          -> 404 "not found"
'use strict';

const http = require('http');
const crypto = require('crypto');

const port = Number(process.env.PORT) || 3000;

const PID = String(process.pid);

// 256 periods of the 251-byte pattern: every full chunk starts at pattern offset 0, so writing
// full chunks back to back continues the pattern.
const PATTERN = Buffer.alloc(251 * 256);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % 251;

function send(res, status, body, type) {
  const buf = Buffer.from(body);
  res.writeHead(status, {
    'Content-Type': type || 'text/plain',
    'Content-Length': buf.length,
    'X-Pid': PID,
  });
  res.end(buf);
}

function download(res, total, chunked) {
  const headers = { 'Content-Type': 'application/octet-stream', 'X-Pid': PID };
  if (!chunked) headers['Content-Length'] = total;
  res.writeHead(200, headers);
  let remaining = total;
  const pump = () => {
    while (remaining > 0) {
      const n = Math.min(remaining, PATTERN.length);
      remaining -= n;
      const ok = res.write(n === PATTERN.length ? PATTERN : PATTERN.subarray(0, n));
      if (!ok && remaining > 0) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  res.on('close', () => { remaining = 0; });
  pump();
}

function upload(req, res) {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  req.on('data', (chunk) => {
    hash.update(chunk);
    bytes += chunk.length;
  });
  req.on('end', () => {
    send(res, 200, JSON.stringify({
      bytes,
      sha256: hash.digest('hex'),
      transferEncoding: req.headers['transfer-encoding'] || null,
      contentLength: req.headers['content-length'] || null,
    }), 'application/json');
  });
}

function slow(res, ms) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Pid': PID });
  res.write('start\n');
  setTimeout(() => res.end(`end pid=${PID}\n`), ms);
}

function chunked(res) {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Pid': PID });
  let i = 0;
  const next = () => {
    if (i === 5) {
      res.end();
      return;
    }
    res.write(`chunk-${i}\n`);
    i += 1;
    setImmediate(next);
  };
  next();
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  switch (url.pathname) {
    case '/pid':
      return send(res, 200, PID);
    case '/hello':
      return send(res, 200, 'hello');
    case '/conn':
      // Which connection from Ferry carried this request: its client-side port.
      return send(res, 200, String(req.socket.remotePort));
    case '/headers':
      return send(res, 200, JSON.stringify({
        method: req.method,
        url: req.url,
        httpVersion: req.httpVersion,
        headers: req.headers,
      }), 'application/json');
    case '/upload':
      return upload(req, res);
    case '/download':
      return download(res, Number(url.searchParams.get('bytes') || 0), url.searchParams.get('chunked') === '1');
    case '/slow':
      return slow(res, Number(url.searchParams.get('ms') || 1000));
    case '/chunked':
      return chunked(res);
    default:
      req.resume();
      return send(res, 404, 'not found\n');
  }
});

server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => {
  console.log(`node-test ready pid=${PID}`);
});
