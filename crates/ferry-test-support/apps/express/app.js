// express: an unmodified-style Express 4 app for Ferry's integration tests. Its dependencies are
// installed with `npm ci --omit=dev` (or `npm install --omit=dev`) in this directory.
//   GET  /      -> HTML "Hello from Express" and a form posting to /form
//   POST /form  -> urlencoded name=... -> "Thanks, <name>"
'use strict';

const express = require('express');

const app = express();
app.use(express.urlencoded({ extended: false }));

app.get('/', (req, res) => {
  res.type('html').send(
    '<!DOCTYPE html>\n<html><head><title>Express fixture</title></head><body>\n' +
      '<h1>Hello from Express</h1>\n' +
      '<form method="post" action="/form">\n' +
      '  <input name="name"> <button type="submit">Send</button>\n' +
      '</form>\n</body></html>\n'
  );
});

app.post('/form', (req, res) => {
  // text/plain: the name is echoed as is.
  res.type('text').send(`Thanks, ${(req.body && req.body.name) || ''}`);
});

app.listen(process.env.PORT || 3000);
