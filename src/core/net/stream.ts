import net from 'node:net';
import tls from 'node:tls';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import type { Endpoint } from '../address.js';
import { ChannelBase, type Framer } from './channel.js';
import { plainTlsText } from './tls-text.js';

export interface StreamOpenOptions {
  remote: Endpoint;
  family: 4 | 6;
  /** How the byte stream is cut into messages (the protocol's framer). */
  framer: Framer;
  tls?: {
    /** Name checked against the certificate (SNI too); omitted for IP literals. */
    servername?: string;
    /** When true, an untrusted certificate is accepted (reported by the caller). */
    insecure?: boolean;
    ca?: Buffer;
  };
  localAddress?: string;
  timeout: number;
  signal?: AbortSignal;
}

export interface TlsInfo {
  authorized: boolean;
  authorizationError?: string;
  protocol?: string;
  cipher?: string;
  peerSubject?: string;
  peerIssuer?: string;
  validTo?: string;
}

/** A TCP or TLS connection cut into messages by the caller's framer. */
export class StreamChannel extends ChannelBase {
  readonly reliable = true;
  private buffer: Buffer = Buffer.alloc(0);

  private constructor(
    readonly transport: 'tcp' | 'tls',
    private readonly sock: net.Socket,
    private readonly framer: Framer,
    readonly local: Endpoint,
    readonly remote: Endpoint,
    readonly tlsInfo?: TlsInfo,
  ) {
    super();
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    // No "TCP host:port" prefix: the caller names the server it talks to, once.
    sock.on('error', (err) => this.fail(toRtcprobeError(err)));
    sock.on('close', () => this.fail(new RtcprobeError('CONNECTION', 'the server closed the connection')));
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.close();
    this.emit('error', err);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      let len: number | undefined;
      try {
        len = this.framer.frameLength(this.buffer);
      } catch (err) {
        this.fail(toRtcprobeError(err));
        return;
      }
      if (len === undefined || this.buffer.length < len) break;
      const frame = this.buffer.subarray(0, len);
      this.buffer = this.buffer.subarray(len);
      this.emit('message', frame, this.remote, false);
    }
  }

  static open(o: StreamOpenOptions): Promise<StreamChannel> {
    return new Promise((resolve, reject) => {
      const transport = o.tls ? 'tls' : 'tcp';
      let sock: net.Socket;
      const base = { host: o.remote.address, port: o.remote.port, family: o.family, ...(o.localAddress ? { localAddress: o.localAddress } : {}) };
      if (o.tls) {
        sock = tls.connect({
          ...base,
          ...(o.tls.servername ? { servername: o.tls.servername } : {}),
          rejectUnauthorized: false,
          ...(o.tls.ca ? { ca: o.tls.ca } : {}),
        });
      } else {
        sock = net.connect(base);
      }
      const timer = setTimeout(() => done(new RtcprobeError('TIMEOUT', `${transport.toUpperCase()} connect timed out after ${o.timeout} ms`)), o.timeout);
      const onAbort = () => done(new RtcprobeError('ABORTED', 'aborted', { cause: o.signal?.reason }));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (err?: Error) => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        sock.off('error', onError);
        if (err) {
          sock.destroy();
          const e = toRtcprobeError(err);
          // OpenSSL's text names its source files and lines: say it in plain words.
          reject(o.tls && !(err instanceof RtcprobeError) ? new RtcprobeError(e.code, plainTlsText(e.message), { cause: err }) : e);
          return;
        }
        const la = { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
        let info: TlsInfo | undefined;
        if (sock instanceof tls.TLSSocket) {
          const cert = sock.getPeerCertificate();
          const authErr = sock.authorizationError ? String(sock.authorizationError) : undefined;
          let authorized = sock.authorized;
          let authorizationError = authErr;
          if (authorized && o.tls?.servername) {
            const idErr = tls.checkServerIdentity(o.tls.servername, cert);
            if (idErr) {
              authorized = false;
              authorizationError = idErr.message;
            }
          }
          info = {
            authorized,
            ...(authorizationError ? { authorizationError } : {}),
            ...(sock.getProtocol() ? { protocol: sock.getProtocol()! } : {}),
            cipher: sock.getCipher().name,
            ...(cert.subject ? { peerSubject: String(cert.subject.CN ?? '') } : {}),
            ...(cert.issuer ? { peerIssuer: String(cert.issuer.CN ?? '') } : {}),
            ...(cert.valid_to ? { validTo: cert.valid_to } : {}),
          };
          if (!authorized && !o.tls?.insecure) {
            sock.destroy();
            reject(new RtcprobeError('TLS', `certificate not accepted: ${authorizationError} (use --insecure to continue anyway)`));
            return;
          }
        }
        resolve(new StreamChannel(transport, sock, o.framer, la, o.remote, info));
      };
      const onError = (err: Error) => done(err);
      sock.once('error', onError);
      sock.once(o.tls ? 'secureConnect' : 'connect', () => done());
    });
  }

  send(data: Buffer): void {
    if (this.closed) throw new RtcprobeError('CONNECTION', 'send on a closed connection');
    this.sock.write(data);
  }

  protected release(): void {
    this.sock.destroy();
  }
}
