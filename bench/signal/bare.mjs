// The baseline: a bare `ws` forwarder with no protocol. Two connections on
// the same path (/p/<pair>) are partners; every text frame from one is sent
// as it is to the other. No parsing, no validation, no limits.
import http from 'node:http';
import { WebSocketServer } from 'ws';

const server = http.createServer((_req, res) => res.end('bare forwarder\n'));
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
const waiting = new Map();
// --batch: write at the end of the event-loop turn, the way the relay does.
const BATCH = process.argv.includes('--batch');
let pending = [];
const flush = () => {
  const p = pending;
  pending = [];
  for (let i = 0; i < p.length; i += 2) if (p[i].readyState === 1) p[i].send(p[i + 1], { binary: false });
};

wss.on('connection', (ws, req) => {
  const key = req.url ?? '/';
  const other = waiting.get(key);
  if (other && other.readyState === 1) {
    waiting.delete(key);
    ws.partner = other;
    other.partner = ws;
    ws.send('{"type":"paired"}');
    other.send('{"type":"paired"}');
  } else {
    waiting.set(key, ws);
  }
  ws.on('message', (data, isBinary) => {
    const p = ws.partner;
    if (!p || p.readyState !== 1) return;
    if (!BATCH) p.send(data, { binary: isBinary });
    else {
      if (pending.length === 0) setImmediate(flush);
      pending.push(p, data);
    }
  });
  ws.on('close', () => {
    if (waiting.get(key) === ws) waiting.delete(key);
    if (ws.partner) ws.partner.partner = undefined;
  });
  ws.on('error', () => {});
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: server.address().port })}\n`);
});
const stop = () => {
  wss.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
