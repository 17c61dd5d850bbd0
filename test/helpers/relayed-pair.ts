/**
 * Two werift peers on loopback whose datagrams pass through a UDP relay in the
 * test, which sees each datagram's DTLS content and may drop it.
 */
import { createSocket, type Socket } from 'node:dgram';
import { expect } from 'vitest';
import { RtcPeer } from '../../src/core/rtc/peer.js';

/** What a datagram carries, for DTLS records (RFC 7983: first byte 20-63): `hs<msg_type>` for a plaintext handshake message, `hs-enc` for an encrypted one (Finished), `ct<type>e<epoch>` otherwise. */
export function kind(m: Buffer): string {
  if (m.length < 14 || m[0]! < 20 || m[0]! > 63) return 'other';
  const epoch = m.readUInt16BE(3);
  if (m[0] === 22) return epoch === 0 ? `hs${m[13]}` : 'hs-enc';
  return `ct${m[0]}e${epoch}`;
}

const HOST = /(a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 )(\d+)( typ host)/;

/**
 * Two loopback peers whose datagrams pass through two relay sockets: the offerer's candidate in the offer
 * is replaced by relay socket A (the answerer sends there; it is forwarded to the offerer from relay socket
 * B, the answerer's candidate in the answer), and the other way round. ICE, DTLS and SCTP work as usual;
 * `drop` sees every datagram with its sender and may drop it.
 */
export async function relayedPair(drop: (from: 'offerer' | 'answerer', k: string) => boolean, W: { timeoutMs: number }) {
  const offerer = new RtcPeer({ iceServers: [], loopback: true });
  const answerer = new RtcPeer({ iceServers: [], loopback: true });
  const sockets: Socket[] = [createSocket('udp4'), createSocket('udp4')];
  const [toOfferer, toAnswerer] = sockets as [Socket, Socket];
  const seen: Record<string, number> = {};
  const close = async () => {
    await Promise.all([offerer.close(), answerer.close()]);
    for (const s of sockets) s.close();
  };
  try {
    await Promise.all(sockets.map((s) => new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()))));
    const offer = await offerer.offer(W);
    const offererPort = Number(HOST.exec(offer.sdp)?.[2]);
    const answer = await answerer.answer({ ...offer, sdp: offer.sdp.replace(new RegExp(HOST, 'g'), `$1${toOfferer.address().port}$3`) }, W);
    const answererPort = Number(HOST.exec(answer.sdp)?.[2]);
    expect(offererPort > 0 && answererPort > 0).toBe(true);
    const relay = (from: 'offerer' | 'answerer', via: Socket, port: number) => (m: Buffer) => {
      const k = kind(m);
      seen[`${from}:${k}`] = (seen[`${from}:${k}`] ?? 0) + 1;
      if (!drop(from, k)) via.send(m, port, '127.0.0.1');
    };
    // The offerer sends to the answerer's candidate (toAnswerer): forwarded from toOfferer, the offerer's candidate as the answerer knows it.
    toAnswerer.on('message', relay('offerer', toOfferer, answererPort));
    toOfferer.on('message', relay('answerer', toAnswerer, offererPort));
    await offerer.accept({ ...answer, sdp: answer.sdp.replace(new RegExp(HOST, 'g'), `$1${toAnswerer.address().port}$3`) });
    return { offerer, answerer, seen, close };
  } catch (err) {
    await close();
    throw err;
  }
}

