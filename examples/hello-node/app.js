// A minimal Node.js app, as people deploy them: it listens on $PORT or 3000. Under Ferry the
// loader redirects that listen() to a socket of its own, so the app needs no changes.
const http = require('http');

const port = Number(process.env.PORT || 3000);

const server = http.createServer((req, res) => {
  if (req.url === '/pid') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(String(process.pid));
    return;
  }
  const body = 'Hello from Node.js, served by Ferry!\n';
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

server.keepAliveTimeout = 65000;
server.listen(port, '127.0.0.1', () => {
  console.log(`hello-node listening on 127.0.0.1:${port}`);
});
