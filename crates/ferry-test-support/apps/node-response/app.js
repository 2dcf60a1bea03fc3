// node-response: how responses of an HTTP app travel back through Ferry (issue 16, response
// side).
//
//   GET /pid        this process's pid
//   GET /overrun    Content-Length: 5, then "hello" and a whole fake response in the same write
//   GET /stall      Content-Length: 100, then 10 bytes, then nothing
'use strict';

const http = require('http');

const FAKE = 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED';

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/pid') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(String(process.pid));
  } else if (path === '/overrun') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '5' });
    res.end('hello' + FAKE);
  } else if (path === '/stall') {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '100' });
    res.write('0123456789');
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found\n');
  }
});

server.listen(process.env.PORT || 3000);
