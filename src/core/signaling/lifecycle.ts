/**
 * The life of a WebSocket server, apart from what it serves: listening on one
 * port (WebSocket upgrades and HTTP) or two (a separate HTTP port), optionally
 * over TLS (wss:// and https://); WebSocket heartbeats; closing one socket
 * with a code and cutting it if the peer never completes the close; and
 * draining: stop accepting, close every connection (1001 by the caller's
 * farewell), wait for them within a time limit, then cut the rest.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { RtcprobeError, toRtcprobeError } from '../errors.js';

export interface ListenOptions {
  host: string;
  port: number;
  /** A separate HTTP listener (0 = any port); default: HTTP on the WebSocket port. */
  httpPort?: number;
  /** Its address; default `host`. */
  httpHost?: string;
  /** PEM certificate chain and key: both listeners speak TLS. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** HTTP requests; `full` is false on the WebSocket port when HTTP has its own port. */
  onRequest(req: http.IncomingMessage, res: http.ServerResponse, full: boolean): void;
  onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
}

export interface Addresses {
  host: string;
  port: number;
  httpPort: number;
  /** ws:// or wss:// URL of the WebSocket port. */
  ws: string;
  /** http:// or https:// URL of the HTTP port. */
  http: string;
}

/** The listening servers: their addresses, and how to stop them. */
export class Listeners {
  private constructor(readonly addresses: Addresses, private readonly servers: http.Server[]) {}

  /** Start listening; resolves once accepting connections (TLS: TLS error, bind: a typed error). */
  static async open(o: ListenOptions): Promise<Listeners> {
    const tls = o.tls;
    const create = (handler: http.RequestListener, onUpgrade: ListenOptions['onUpgrade']): http.Server => {
      let server: http.Server;
      try {
        server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
      } catch (err) {
        throw new RtcprobeError('TLS', `cannot use the certificate and key: ${(err as Error).message}`, { cause: err });
      }
      server.on('upgrade', onUpgrade);
      server.on('clientError', (_err, socket) => socket.destroy());
      if (tls) server.on('tlsClientError', (_err, socket) => socket.destroy());
      return server;
    };
    const separate = o.httpPort !== undefined;
    const main = create((req, res) => o.onRequest(req, res, !separate), o.onUpgrade);
    const servers = [main];
    const port = await listenOn(main, o.port, o.host);
    let httpPort = port;
    let httpHost = o.host;
    if (o.httpPort !== undefined) {
      httpHost = o.httpHost ?? o.host;
      const hs = create((req, res) => o.onRequest(req, res, true), (_req, socket) => socket.destroy());
      servers.push(hs);
      try {
        httpPort = await listenOn(hs, o.httpPort, httpHost);
      } catch (err) {
        await closeServer(main);
        throw err;
      }
    }
    const bracket = (a: string) => (a.includes(':') ? `[${a}]` : a);
    const s = tls ? 's' : '';
    return new Listeners({ host: o.host, port, httpPort, ws: `ws${s}://${bracket(o.host)}:${port}/`, http: `http${s}://${bracket(httpHost)}:${httpPort}/` }, servers);
  }

  /** Stop accepting; resolves when every server has closed (see `cut`). */
  stop(): Promise<void> {
    return Promise.all(this.servers.map(closeServer)).then(() => {});
  }

  /** Close the HTTP connections still open (keep-alive, requests in progress). */
  cut(): void {
    for (const s of this.servers) s.closeAllConnections();
  }
}

function listenOn(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(toRtcprobeError(err, `cannot listen on ${host}:${port}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

/** Refuse an upgrade with a bare HTTP response on the raw socket. */
export function refuseUpgrade(socket: Duplex, status: string, body?: { type: string; text: string }): void {
  const head = [`HTTP/1.1 ${status}`, 'Connection: close'];
  if (body) head.push(`Content-Type: ${body.type}`);
  head.push(`Content-Length: ${body ? Buffer.byteLength(body.text) : 0}`);
  socket.end(`${head.join('\r\n')}\r\n\r\n${body?.text ?? ''}`);
}

/** Close a WebSocket with a code; cut it if the peer has not completed the close after `graceMs`. */
export function closeSocket(ws: WebSocket, code: number, reason: string, graceMs = 2000): void {
  try {
    ws.close(code, reason);
  } catch {
    ws.terminate();
  }
  setTimeout(() => ws.terminate(), graceMs).unref();
}

/** A connection the heartbeat watches: `alive` is set by any sign of life (a pong, a frame). */
export interface Beating {
  readonly ws: WebSocket;
  alive: boolean;
}

/**
 * Ping every connection every `intervalMs`; one that has shown no sign of
 * life since the previous beat is terminated and reported to `onDead`.
 * Returns the stop function.
 */
export function startHeartbeat<C extends Beating>(intervalMs: number, conns: () => Iterable<C>, onDead: (conn: C) => void): () => void {
  const timer = setInterval(() => {
    for (const conn of conns()) {
      if (!conn.alive) {
        onDead(conn);
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        conn.ws.terminate();
      }
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Drain connections: run `farewell` on each (tell it, close it with 1001),
 * wait until every socket has closed and every farewell has settled, at most
 * `timeoutMs`; then terminate those still open. Resolves with how many were cut.
 */
export async function drain<C extends { readonly ws: WebSocket }>(conns: Iterable<C>, farewell: (conn: C) => Promise<void>, timeoutMs: number, stillOpen: () => Iterable<C>): Promise<number> {
  const waits: Promise<void>[] = [];
  for (const conn of conns) {
    waits.push(new Promise((resolve) => {
      if (conn.ws.readyState === 3) resolve();
      else conn.ws.once('close', () => resolve());
    }));
    waits.push(farewell(conn));
  }
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), timeoutMs); });
  const done = await Promise.race([Promise.all(waits).then(() => 'ok' as const), limit]);
  clearTimeout(timer);
  if (done === 'ok') return 0;
  let forced = 0;
  for (const conn of stillOpen()) {
    forced++;
    conn.ws.terminate();
  }
  return forced;
}
