// Hello-world Node app for bench/loaders.sh. It listens on $PORT when run directly; under Ferry
// the loader intercepts listen() and serves the same server on its own socket.
const http = require('http');

const body = 'hello world';
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
});

server.keepAliveTimeout = 65000;
server.listen(Number(process.env.PORT || 3000), '127.0.0.1');
