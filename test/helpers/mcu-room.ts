// A relay on loopback, the audio MCU and N impulse participants, all real (werift over loopback UDP).
import { SignalRelay } from '../../src/core/signaling/server.js';
import { McuServer, type McuServerOptions } from '../../src/core/rtc/mcu-server.js';
import { ImpulseClient } from '../../src/core/rtc/mcu-client.js';

export interface McuRoom {
  url: string;
  room: string;
  server: McuServer;
  clients: ImpulseClient[];
  ac: AbortController;
  addClient(id: string, burstId: number): Promise<ImpulseClient>;
  close(): Promise<void>;
}

export async function startMcuRoom(n: number, o: Partial<McuServerOptions> = {}): Promise<McuRoom> {
  const ac = new AbortController();
  const relay = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { messagesPerSecond: 10_000, messageBurst: 10_000 } });
  const addr = await relay.listen();
  const room = `mcu-${process.pid}`;
  const server = new McuServer({ url: addr.ws, room, iceServers: [], loopback: true, signal: ac.signal, timeoutMs: 20_000, ...o });
  const clients: ImpulseClient[] = [];
  const r: McuRoom = {
    url: addr.ws,
    room,
    server,
    clients,
    ac,
    async addClient(id, burstId) {
      const c = new ImpulseClient({ url: addr.ws, room, peerId: id, iceServers: [], loopback: true, burstId, timeoutMs: 20_000, signal: ac.signal });
      clients.push(c);
      await c.start();
      return c;
    },
    async close() {
      for (const c of clients) await c.stop().catch(() => {});
      await server.stop().catch(() => {});
      ac.abort();
      await relay.close('test over').catch(() => {});
    },
  };
  try {
    await server.start();
    await Promise.all(Array.from({ length: n }, (_, i) => r.addClient(`p${i}`, i)));
  } catch (err) {
    await r.close();
    throw err;
  }
  return r;
}

export { until } from './signal.js';
