// Runs the API reference's Node snippet (verify.js) as a webhook receiver.
//
// verify.js is read as text and used unchanged except for its placeholder
// secret, which is replaced by the real signing secret from SEED_SECRET. A
// plain `http` server collects each POST's raw body into req.rawBody and calls
// the snippet's verifyWebhook(req): if it returns, the answer is
// 200 {"ok": true, "event": <the envelope's event>}; if it throws (a wrong
// signature, or crypto.timingSafeEqual refusing buffers of different lengths),
// 401.
//
// Env: SEED_SECRET  the webhook's signing secret (required)
//      PORT         port to listen on at 127.0.0.1 (default 0: any free port)
// Prints "LISTENING <port>" on stdout once bound; logs every verdict to stderr.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');

const SNIPPET = path.join(__dirname, 'verify.js');
const PLACEHOLDER = "'whsec_seu_secret_aqui'";

function log(msg) {
  process.stderr.write(`node_receiver: ${msg}\n`);
}

function die(msg) {
  log(msg);
  process.exit(1);
}

function loadSnippet(secret) {
  let src = fs.readFileSync(SNIPPET, 'utf8');
  const n = src.split(PLACEHOLDER).length - 1;
  if (n !== 1) {
    die(`expected the literal ${PLACEHOLDER} exactly once in ${SNIPPET}, found it ${n} times`);
  }
  src = src.replace(PLACEHOLDER, () => JSON.stringify(secret));
  const verifyWebhook = new Function('require', `${src}\nreturn verifyWebhook;`)(require);
  if (typeof verifyWebhook !== 'function') {
    die(`${SNIPPET} defines no verifyWebhook()`);
  }
  return verifyWebhook;
}

function answer(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(data),
  });
  res.end(data);
}

function main() {
  const secret = process.env.SEED_SECRET;
  if (!secret) die('SEED_SECRET is not set');
  const port = Number(process.env.PORT || '0');
  const verifyWebhook = loadSnippet(secret);

  const server = http.createServer((req, res) => {
    const what = `${req.method} ${req.url} event=${req.headers['x-webhook-event']} id=${req.headers['x-webhook-id']}`;
    if (req.method !== 'POST') {
      log(`REJECTED ${what}: 405`);
      answer(res, 405, { ok: false, error: 'method not allowed' });
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', (err) => log(`ERROR ${what}: ${err.message}`));
    req.on('end', () => {
      req.rawBody = Buffer.concat(chunks);
      let event;
      try {
        event = verifyWebhook(req);
      } catch (err) {
        log(`REJECTED ${what}: 401 (${err.message})`);
        answer(res, 401, { ok: false, error: 'invalid signature' });
        return;
      }
      log(`ACCEPTED ${what}`);
      answer(res, 200, { ok: true, event: event.event });
    });
  });

  server.on('error', (err) => die(`server: ${err.message}`));
  server.listen(port, '127.0.0.1', () => {
    const bound = server.address().port;
    process.stdout.write(`LISTENING ${bound}\n`);
    log(`serving http://127.0.0.1:${bound}/ with the snippet from ${SNIPPET}`);
  });
}

main();
