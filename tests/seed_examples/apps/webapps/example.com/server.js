// /webapps/example.com/server.js: the Node.js app of seed 000 §8.3.8, started from server.js
// (passenger_startup_file) instead of app.js. Plain `http` module; it listens on $PORT, which
// the loader redirects to Ferry's socket. Answers like the other seed apps, one key=value line
// each: app, cwd, pid, interpreter (SEED_INTERPRETER from a wrapper under usr/), url, then
// header.NAME=VALUE for each request header and ENV.KEY=VALUE for each environment variable.
'use strict';

const http = require('http');

http
  .createServer((req, res) => {
    const lines = [
      'app=example.com',
      `cwd=${process.cwd()}`,
      `pid=${process.pid}`,
      `interpreter=${process.env.SEED_INTERPRETER || ''}`,
      `url=${req.url}`,
    ];
    for (const [k, v] of Object.entries(req.headers)) lines.push(`header.${k}=${v}`);
    for (const [k, v] of Object.entries(process.env)) lines.push(`ENV.${k}=${v}`);
    const body = Buffer.from(`${lines.join('\n')}\n`);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
  })
  .listen(process.env.PORT || 3000);
