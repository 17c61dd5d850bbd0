// werift's UDP sockets: finding them on a peer connection and waiting until they are closed.
import { Socket as UdpSocket } from 'node:dgram';
import type { RTCPeerConnection } from 'werift';

/** The UDP sockets of werift's ICE connections (internals: looked up defensively). */
export function udpSockets(pc: RTCPeerConnection): UdpSocket[] {
  const out: UdpSocket[] = [];
  for (const t of pc.iceTransports) {
    const protocols = (t.connection as unknown as { protocols?: unknown[] }).protocols ?? [];
    for (const p of protocols) {
      const tr = (p as { transport?: { socket?: unknown; closed?: boolean } }).transport;
      if (tr?.socket instanceof UdpSocket && !tr.closed) out.push(tr.socket);
      const turnTr = (p as { turn?: { transport?: { socket?: unknown; closed?: boolean } } }).turn?.transport;
      if (turnTr?.socket instanceof UdpSocket && !turnTr.closed) out.push(turnTr.socket);
    }
  }
  return out;
}

/** Resolves on the socket's 'close', or after `timeoutMs` at the latest. */
export function socketClosed(sock: UdpSocket, timeoutMs = 2000): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, timeoutMs);
    sock.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/**
 * Ask for a bigger kernel receive buffer on each socket (capped by
 * net.core.rmem_max): a peer that takes several streams on one socket loses
 * packets to buffer overflow whenever its event loop stalls. Best effort.
 */
export function growReceiveBuffers(pc: RTCPeerConnection, bytes = 4 * 1024 * 1024): void {
  for (const s of udpSockets(pc)) {
    try {
      if (s.getRecvBufferSize() < bytes) s.setRecvBufferSize(bytes);
    } catch {
      // not bound yet, or refused: keep the default
    }
  }
}
