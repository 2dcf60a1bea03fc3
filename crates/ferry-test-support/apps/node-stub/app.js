// node-stub: the Node.js app Ferry's integration tests run through loaders/node/node-loader.js.
//
// Plain `http` module, no npm dependencies. It listens on $PORT (default 3000); under Ferry the
// loader redirects that to Ferry's unix socket. When mounted under a base URI
// (PASSENGER_BASE_URI, e.g. /sub), that prefix is stripped before routing.
//
//   GET,HEAD /hello              -> "hello world" (text/plain, Content-Length)
//   GET  /env                    -> JSON {method, url, headers, base_uri}
//   POST /upload                 -> JSON {length, sha256} of the body, hashed as it streams
//   GET  /stream?gate=/abs/path  -> "first\n" at once (chunked), "last\n" once the gate file exists
//                                   (polled every 10 ms, at most 20 s)
//   GET  /cookies                -> Set-Cookie a=1, b=2, c=3
//   GET  /status/<code>          -> that status, empty body
//   GET  /large-header?size=N    -> header X-Large of N 'x', body "ok"
//   GET  /error                  -> the handler throws; the stack goes to stderr, the reply is 500
//                                   (an exception nobody catches would end the process, as Node
//                                   always does; Ferry would then start a new one)
//   GET  /ws                     -> WebSocket echo of text frames (upgrade handled by the server)
//   GET  /pid                    -> the process id
//   POST /consume?record=/abs/p  -> appends to the record file: "arrived" on entry, "first-byte" at
//                                   the first body byte, then "complete N SHA256" at 'end', or
//                                   "error aborted" when the request ends before its body does
//                                   (Node's 'close' with req.complete === false); answers JSON
//                                   {length, sha256}
//   anything else                -> 404 "not found"
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const BASE_URI = (process.env.PASSENGER_BASE_URI || '').replace(/\/+$/, '');
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

function stripBase(url) {
  if (BASE_URI && (url === BASE_URI || url.startsWith(`${BASE_URI}/`) || url.startsWith(`${BASE_URI}?`))) {
    const rest = url.slice(BASE_URI.length);
    return rest.startsWith('/') ? rest : `/${rest}`;
  }
  return url;
}

function send(res, status, body, type) {
  const buf = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': type || 'text/plain', 'Content-Length': buf.length });
  res.end(buf);
}

function upload(req, res) {
  const hash = crypto.createHash('sha256');
  let length = 0;
  req.on('data', (chunk) => {
    length += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    send(res, 200, JSON.stringify({ length, sha256: hash.digest('hex') }), 'application/json');
  });
  req.on('error', (e) => {
    console.error(`upload failed: ${e.message}`);
    if (!res.headersSent) send(res, 400, 'upload failed');
  });
}

// Appends `line` to the file `record` (nothing without one).
function recordTo(record, line) {
  if (record) fs.appendFileSync(record, `${line}\n`);
}

function consume(req, res, record) {
  recordTo(record, 'arrived');
  const hash = crypto.createHash('sha256');
  let length = 0;
  req.on('data', (chunk) => {
    if (length === 0 && chunk.length > 0) recordTo(record, 'first-byte');
    length += chunk.length;
    hash.update(chunk);
  });
  req.on('end', () => {
    const sha256 = hash.digest('hex');
    recordTo(record, `complete ${length} ${sha256}`);
    send(res, 200, JSON.stringify({ length, sha256 }), 'application/json');
  });
  req.on('close', () => {
    if (!req.complete) recordTo(record, 'error aborted');
  });
  req.on('error', () => {}); // 'close' records it; an unhandled 'error' would end the process
}

function stream(res, gate) {
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.write('first\n');
  const deadline = Date.now() + 20000;
  const poll = () => {
    if ((gate && fs.existsSync(gate)) || Date.now() >= deadline) {
      res.end('last\n');
      return;
    }
    setTimeout(poll, 10);
  };
  poll();
}

function route(req, res) {
  const url = new URL(stripBase(req.url), 'http://stub');
  const p = url.pathname;
  if ((req.method === 'GET' || req.method === 'HEAD') && p === '/hello') return send(res, 200, 'hello world');
  if (p === '/env') {
    const body = {
      method: req.method,
      url: req.url,
      headers: req.headers,
      base_uri: process.env.PASSENGER_BASE_URI,
    };
    return send(res, 200, JSON.stringify(body), 'application/json');
  }
  if (p === '/upload' && (req.method === 'POST' || req.method === 'PUT')) return upload(req, res);
  if (p === '/stream') return stream(res, url.searchParams.get('gate'));
  if (p === '/cookies') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Set-Cookie': ['a=1', 'b=2', 'c=3'], 'Content-Length': 2 });
    return res.end('ok');
  }
  const status = /^\/status\/(\d{3})$/.exec(p);
  if (status) {
    res.writeHead(Number(status[1]), { 'Content-Length': 0 });
    return res.end();
  }
  if (p === '/large-header') {
    const size = Math.max(0, Number(url.searchParams.get('size')) || 0);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Large': 'x'.repeat(size), 'Content-Length': 2 });
    return res.end('ok');
  }
  if (p === '/error') throw new Error('ferry-test-boom (node-stub: deliberate error in a request handler)');
  if (p === '/pid') return send(res, 200, String(process.pid));
  if (p === '/consume' && (req.method === 'POST' || req.method === 'PUT')) {
    return consume(req, res, url.searchParams.get('record'));
  }
  return send(res, 404, 'not found');
}

const server = http.createServer((req, res) => {
  try {
    route(req, res);
  } catch (e) {
    console.error(e.stack);
    if (!res.headersSent) send(res, 500, 'internal server error');
    else res.destroy();
  }
});

// --- WebSocket echo on /ws -------------------------------------------------------------------

function frame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

// Parses as many complete client frames as `buf` holds; returns {frames, rest}.
function parseFrames(buf) {
  const frames = [];
  for (;;) {
    if (buf.length < 2) break;
    const opcode = buf[0] & 0x0f;
    const masked = (buf[1] & 0x80) !== 0;
    let len = buf[1] & 0x7f;
    let off = 2;
    if (len === 126) {
      if (buf.length < 4) break;
      len = buf.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (buf.length < 10) break;
      len = Number(buf.readBigUInt64BE(2));
      off = 10;
    }
    const maskLen = masked ? 4 : 0;
    if (buf.length < off + maskLen + len) break;
    const payload = Buffer.from(buf.subarray(off + maskLen, off + maskLen + len));
    if (masked) {
      const mask = buf.subarray(off, off + 4);
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    }
    frames.push({ opcode, payload });
    buf = buf.subarray(off + maskLen + len);
  }
  return { frames, rest: buf };
}

server.on('upgrade', (req, socket, head) => {
  const key = req.headers['sec-websocket-key'];
  if (stripBase(req.url).split('?')[0] !== '/ws' || !key || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(key + WS_GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\n' +
      'Upgrade: websocket\r\n' +
      'Connection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`
  );
  let pending = Buffer.alloc(0);
  let closed = false;
  const onData = (chunk) => {
    if (closed) return;
    const { frames, rest } = parseFrames(Buffer.concat([pending, chunk]));
    pending = rest;
    for (const f of frames) {
      if (f.opcode === 0x1 || f.opcode === 0x2) socket.write(frame(f.opcode, f.payload));
      else if (f.opcode === 0x9) socket.write(frame(0xa, f.payload));
      else if (f.opcode === 0x8) {
        closed = true;
        socket.end(frame(0x8, f.payload.subarray(0, 2)));
        return;
      }
    }
  };
  socket.on('data', onData);
  socket.on('error', () => socket.destroy());
  if (head && head.length) onData(head);
});

server.listen(Number(process.env.PORT) || 3000);
