#!/usr/bin/env node
// A logging JSON-RPC proxy: forwards HTTP POSTs and WebSocket connections to the node and writes
// one JSON line per request and its answer, so that a failing client test can be traced to the
// exact method, params and error the node returned.
//
//   node clients/lib/rpc-proxy.mjs --upstream http://127.0.0.1:8545 --log FILE [--port 0]
//
// Prints `http://127.0.0.1:<port>` on stdout once listening. Log lines:
//   { "t": ms since start, "via": "http" | "ws", "method", "params", "result" (truncated) | "error" }

import { createWriteStream } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';

const { values: args } = parseArgs({
  options: {
    upstream: { type: 'string' },
    log: { type: 'string' },
    port: { type: 'string', default: '0' },
  },
});
if (!args.upstream || !args.log) {
  console.error('usage: rpc-proxy.mjs --upstream URL --log FILE [--port N]');
  process.exit(2);
}
const upstream = new URL(args.upstream);
const upstreamWs = args.upstream.replace(/^http/, 'ws');
const log = createWriteStream(args.log, { flags: 'a' });
const started = Date.now();
const RESULT_CHARS = 300;

function truncate(value) {
  if (value === undefined) return undefined;
  const text = JSON.stringify(value);
  return text.length <= RESULT_CHARS ? value : `${text.slice(0, RESULT_CHARS)}…(${text.length} chars)`;
}

function record(via, request, response) {
  if (!request || typeof request !== 'object') return;
  const line = { t: Date.now() - started, via, method: request.method, params: request.params };
  if (response === undefined) line.noResponse = true;
  else if (response.error !== undefined) line.error = response.error;
  else line.result = truncate(response.result);
  log.write(`${JSON.stringify(line)}\n`);
}

/** Pairs requests with responses by id (single or batch) and records them. */
function recordExchange(via, requestText, responseText) {
  let request;
  let response;
  try {
    request = JSON.parse(requestText);
  } catch {
    log.write(`${JSON.stringify({ t: Date.now() - started, via, unparsableRequest: requestText.slice(0, 200) })}\n`);
    return;
  }
  try {
    response = responseText ? JSON.parse(responseText) : undefined;
  } catch {
    response = { error: { code: 'proxy', message: `unparsable response: ${responseText.slice(0, 200)}` } };
  }
  const requests = Array.isArray(request) ? request : [request];
  const responses = Array.isArray(response) ? response : response === undefined ? [] : [response];
  const byId = new Map(responses.filter((r) => r && r.id !== undefined).map((r) => [JSON.stringify(r.id), r]));
  for (const req of requests) {
    let res = req && byId.get(JSON.stringify(req.id));
    if (!res && !Array.isArray(request) && responses.length === 1) res = responses[0];
    record(via, req, res);
  }
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    const body = Buffer.concat(chunks);
    try {
      const answer = await fetch(new URL(req.url, upstream), {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      });
      const text = await answer.text();
      if (req.method === 'POST') recordExchange('http', body.toString('utf8'), text);
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    } catch (err) {
      if (req.method === 'POST') {
        recordExchange('http', body.toString('utf8'), JSON.stringify({ error: { code: 'proxy', message: String(err) } }));
      }
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`rpc-proxy: upstream failed: ${err}`);
    }
  });
});

const wss = new WebSocketServer({ server });
wss.on('connection', (client) => {
  const node = new WebSocket(upstreamWs);
  const pending = new Map(); // id -> request text
  const queue = [];
  node.on('open', () => {
    for (const message of queue.splice(0)) node.send(message);
  });
  client.on('message', (data) => {
    const text = data.toString('utf8');
    try {
      const parsed = JSON.parse(text);
      for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
        if (r && r.id !== undefined) pending.set(JSON.stringify(r.id), JSON.stringify(r));
      }
    } catch {
      /* forwarded as is: the node answers the parse error */
    }
    if (node.readyState === WebSocket.OPEN) node.send(text);
    else queue.push(text);
  });
  node.on('message', (data) => {
    const text = data.toString('utf8');
    try {
      const parsed = JSON.parse(text);
      for (const r of Array.isArray(parsed) ? parsed : [parsed]) {
        const key = r && r.id !== undefined ? JSON.stringify(r.id) : undefined;
        if (key !== undefined && pending.has(key)) {
          recordExchange('ws', pending.get(key), JSON.stringify(r));
          pending.delete(key);
        }
      }
    } catch {
      /* notifications and odd frames are relayed unlogged */
    }
    if (client.readyState === WebSocket.OPEN) client.send(text);
  });
  const closeBoth = () => {
    for (const request of pending.values()) recordExchange('ws', request, '');
    pending.clear();
    if (client.readyState === WebSocket.OPEN) client.close();
    if (node.readyState === WebSocket.OPEN || node.readyState === WebSocket.CONNECTING) node.terminate();
  };
  node.on('close', closeBoth);
  node.on('error', (err) => {
    log.write(`${JSON.stringify({ t: Date.now() - started, via: 'ws', error: { code: 'proxy', message: `upstream WebSocket: ${err.message}` } })}\n`);
    closeBoth();
  });
  client.on('close', closeBoth);
  client.on('error', closeBoth);
});

server.listen(Number(args.port), '127.0.0.1', () => {
  console.log(`http://127.0.0.1:${server.address().port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => log.end(() => process.exit(0)));
}
