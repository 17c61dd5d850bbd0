/**
 * Writes deferred to the end of the event-loop turn. TurnBatcher gathers
 * items per key (a socket, a pub/sub channel) and hands each key its batch
 * once the turn's input has been read, in order. Outbox is that for
 * WebSockets: writing after every ready socket was read lets the kernel hand
 * the peers their data in bursts instead of waking them once per message. A
 * socket whose unsent data already exceeds `maxBufferedBytes` when its turn
 * comes is a slow reader: it is handed to `onSlow` instead of written to.
 */

export class TurnBatcher<K> {
  private batches = new Map<K, string[]>();
  private scheduled = false;

  constructor(private readonly write: (key: K, items: string[]) => void) {}

  add(key: K, item: string): void {
    const q = this.batches.get(key);
    if (q) {
      q.push(item);
      return;
    }
    this.batches.set(key, [item]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  /** Write every batch now. */
  readonly flushAll = (): void => {
    this.scheduled = false;
    const batches = this.batches;
    this.batches = new Map();
    for (const [key, items] of batches) this.write(key, items);
  };

  /** Write one key's batch now (before closing a socket, say). */
  flush(key: K): void {
    const items = this.batches.get(key);
    if (!items) return;
    this.batches.delete(key);
    this.write(key, items);
  }
}

/** What the outbox needs of a WebSocket (the `ws` one fits). */
export interface OutSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(text: string): void;
}

const OPEN = 1;

export class Outbox<C extends { readonly ws: OutSocket }> {
  private readonly batcher: TurnBatcher<C>;

  constructor(maxBufferedBytes: number, onSlow: (conn: C) => void) {
    this.batcher = new TurnBatcher<C>((conn, out) => {
      const ws = conn.ws;
      if (ws.readyState !== OPEN) return;
      if (ws.bufferedAmount > maxBufferedBytes) {
        onSlow(conn);
        return;
      }
      for (const text of out) ws.send(text);
    });
  }

  /** Queue a text frame for `conn`; dropped when its socket is not open. */
  send(conn: C, text: string): void {
    if (conn.ws.readyState === OPEN) this.batcher.add(conn, text);
  }

  /** Write what is queued for one connection now. */
  flush(conn: C): void {
    this.batcher.flush(conn);
  }
}
