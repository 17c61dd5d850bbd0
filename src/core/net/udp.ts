import dgram from 'node:dgram';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import type { Endpoint } from '../address.js';
import { ChannelBase } from './channel.js';

export interface UdpOpenOptions {
  remote: Endpoint;
  family: 4 | 6;
  /** Local address to bind; defaults to the wildcard of the family. */
  localAddress?: string;
  localPort?: number;
  signal?: AbortSignal;
}

/** Bind a UDP socket; rejects with the socket's error. Shared ports (`exclusive: false`) by default. */
export function bindUdp(sock: dgram.Socket, port: number, address: string, exclusive = false): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    sock.once('error', onError);
    sock.bind({ port, address, exclusive }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

/** Connect a UDP socket to `remote`; rejects with the socket's error. */
export function connectUdp(sock: dgram.Socket, remote: Endpoint): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    sock.once('error', onError);
    sock.connect(remote.port, remote.address, () => {
      sock.off('error', onError);
      resolve();
    });
  });
}

/**
 * UDP toward one server, as two sockets sharing one local port (SO_REUSEADDR):
 * a connected one, which receives the server's datagrams and ICMP errors
 * (reported as UNREACHABLE), and an unconnected one that the kernel hands
 * every datagram from any other source. Those are passed on as strays.
 */
export class UdpChannel extends ChannelBase {
  readonly transport = 'udp' as const;
  readonly reliable = false;

  private constructor(
    private readonly main: dgram.Socket,
    readonly catcher: dgram.Socket,
    readonly local: Endpoint,
    readonly remote: Endpoint,
  ) {
    super();
    main.on('message', (data, rinfo) => this.emit('message', data, { address: rinfo.address, port: rinfo.port }, false));
    catcher.on('message', (data, rinfo) => this.emit('message', data, { address: rinfo.address, port: rinfo.port }, true));
    // No "UDP host:port" prefix: the caller names the server it talks to, once.
    const fail = (err: Error) => {
      if (!this.closed) this.emit('error', toRtcprobeError(err));
    };
    main.on('error', fail);
    catcher.on('error', fail);
  }

  static async open(o: UdpOpenOptions): Promise<UdpChannel> {
    const type = o.family === 6 ? 'udp6' : 'udp4';
    const wildcard = o.family === 6 ? '::' : '0.0.0.0';
    const catcher = dgram.createSocket({ type, reuseAddr: true, ipv6Only: o.family === 6 });
    const main = dgram.createSocket({ type, reuseAddr: true, ipv6Only: o.family === 6 });
    try {
      o.signal?.throwIfAborted();
      await bindUdp(catcher, o.localPort ?? 0, o.localAddress ?? wildcard);
      await bindUdp(main, catcher.address().port, o.localAddress ?? wildcard);
      await connectUdp(main, o.remote);
      const la = main.address();
      return new UdpChannel(main, catcher, { address: la.address, port: la.port }, o.remote);
    } catch (err) {
      main.close();
      catcher.close();
      throw toRtcprobeError(err, 'UDP socket');
    }
  }

  send(data: Buffer): void {
    if (this.closed) throw new RtcprobeError('SOCKET', 'send on a closed channel');
    this.main.send(data);
  }

  protected release(): void {
    this.main.close();
    this.catcher.close();
  }
}
