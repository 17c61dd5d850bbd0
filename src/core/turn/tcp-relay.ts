/**
 * RFC 6062 data path: over a TCP allocation, Connect asks the server to open
 * a TCP connection from the relayed address to a peer; a second connection
 * to the server, bound to it with ConnectionBind, then carries the peer's
 * bytes raw. The peer is a TCP listener of ours that echoes what it gets.
 */
import net from 'node:net';
import tls from 'node:tls';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import type { Endpoint } from '../address.js';
import { StunMethod } from '../stun/constants.js';
import { decodeMessage } from '../stun/message.js';
import { TurnErrorResponse, type TurnClient } from './client.js';
import { connectAttributes, connectionBindAttributes, readConnectionId } from './protocol.js';

export interface TcpRelayOptions {
  /** The server, as the control connection reached it. */
  remote: Endpoint;
  tls: boolean;
  servername?: string;
  ca?: Buffer;
  /** Address of ours the relay can connect to (the peer listener binds it). */
  peerAddress: string;
  /** Bytes echoed through the relay. */
  bytes: number;
  timeout: number;
  signal?: AbortSignal;
}

export interface TcpRelayResult {
  connectionId: number;
  /** The relayed address's connection as our peer listener saw it. */
  peerSaw?: Endpoint;
  sent: number;
  echoed: number;
  /** ms from the first byte sent to the last byte echoed. */
  durationMs: number;
}

export type TcpRelayStage = 'permission' | 'connect' | 'bind' | 'data';

/** A failure, with the stage it happened in. */
export class TcpRelayError extends RtcprobeError {
  constructor(readonly stage: TcpRelayStage, readonly inner: RtcprobeError) {
    super(inner.code, inner.message, { cause: inner });
    this.name = 'TcpRelayError';
  }
}

/** `p`, or TIMEOUT after `ms`, or ABORTED as soon as `signal` aborts (already aborted included). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) return reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal.reason }));
    const settle = (f: () => void) => {
      clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      f();
    };
    const onAbort = () => settle(() => reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal?.reason })));
    const t = setTimeout(() => settle(() => reject(new RtcprobeError('TIMEOUT', `${what}: no answer within ${ms} ms`))), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    p.then((v) => settle(() => resolve(v)), (e) => settle(() => reject(e)));
  });
}

export async function measureTcpRelay(control: TurnClient, o: TcpRelayOptions): Promise<TcpRelayResult> {
  const sockets: net.Socket[] = [];
  let peerSaw: Endpoint | undefined;
  const server = net.createServer((s) => {
    sockets.push(s);
    peerSaw = { address: s.remoteAddress ?? '', port: s.remotePort ?? 0 };
    s.on('error', () => {});
    s.pipe(s);
  });
  const stage = async <T>(name: TcpRelayStage, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (err) {
      throw new TcpRelayError(name, toRtcprobeError(err));
    }
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, o.peerAddress, () => resolve());
    });
    const port = (server.address() as net.AddressInfo).port;
    const peer = { address: o.peerAddress, port };
    await stage('permission', () => control.createPermission([peer]));
    const connectionId = await stage('connect', async () => {
      const ans = await control.request(StunMethod.Connect, (tid) => connectAttributes(peer, tid));
      const id = readConnectionId(ans.response);
      if (id === undefined) throw new RtcprobeError('STUN_BAD_RESPONSE', 'Connect success response without CONNECTION-ID');
      return id;
    });

    // The data connection: ConnectionBind, then raw bytes.
    const data = await stage('bind', async () => {
      const s = await withTimeout(new Promise<net.Socket>((resolve, reject) => {
        const base = { host: o.remote.address, port: o.remote.port };
        const sock: net.Socket = o.tls
          ? tls.connect({ ...base, rejectUnauthorized: false, ...(o.servername ? { servername: o.servername } : {}), ...(o.ca ? { ca: o.ca } : {}) }, () => resolve(sock))
          : net.connect(base, () => resolve(sock));
        sock.once('error', reject);
      }), o.timeout, 'data connection', o.signal);
      sockets.push(s);
      let pending = Buffer.alloc(0);
      for (let attempt = 0; ; attempt++) {
        s.write(control.auth.build(StunMethod.ConnectionBind, connectionBindAttributes(connectionId)));
        const msg = await withTimeout(new Promise<Buffer>((resolve, reject) => {
          const onData = (chunk: Buffer) => {
            pending = Buffer.concat([pending, chunk]);
            if (pending.length >= 20) {
              const len = 20 + pending.readUInt16BE(2);
              if (pending.length >= len) {
                s.off('data', onData);
                const m = pending.subarray(0, len);
                pending = pending.subarray(len);
                resolve(m);
              }
            }
          };
          s.on('data', onData);
          s.once('close', () => reject(new RtcprobeError('CONNECTION', 'the server closed the data connection')));
        }), o.timeout, 'ConnectionBind', o.signal);
        const v = control.auth.interpret(decodeMessage(msg));
        if (v.kind === 'success') break;
        if (v.kind === 'error') throw new TurnErrorResponse(StunMethod.ConnectionBind, v.code, v.reason, v.rejected, v.response, v.signed);
        if (attempt >= 2) throw new RtcprobeError('STUN_BAD_RESPONSE', 'the server kept asking for authentication');
      }
      return { s, pending };
    });

    return await stage('data', async () => {
      const payload = Buffer.alloc(o.bytes);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + 7) & 0xff;
      let got = data.pending.length;
      const received: Buffer[] = [data.pending];
      const t0 = performance.now();
      await withTimeout(new Promise<void>((resolve, reject) => {
        data.s.on('data', (chunk: Buffer) => {
          received.push(chunk);
          got += chunk.length;
          if (got >= payload.length) resolve();
        });
        data.s.once('close', () => reject(new RtcprobeError('CONNECTION', `the data connection closed after ${got} of ${payload.length} bytes came back`)));
        data.s.write(payload);
      }), o.timeout, `echo of ${o.bytes} bytes`, o.signal).catch((err) => {
        if (got === 0) throw err;
      });
      const back = Buffer.concat(received).subarray(0, payload.length);
      if (got >= payload.length && !back.equals(payload)) throw new RtcprobeError('STUN_BAD_RESPONSE', 'the bytes that came back through the relay differ from those sent');
      return { connectionId, ...(peerSaw ? { peerSaw } : {}), sent: payload.length, echoed: Math.min(got, payload.length), durationMs: Math.round((performance.now() - t0) * 10) / 10 };
    });
  } finally {
    for (const s of sockets) s.destroy();
    server.close();
  }
}
