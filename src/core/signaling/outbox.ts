/**
 * Outgoing messages of many sockets, written at the end of the event-loop
 * turn. Writing after every ready socket was read lets the kernel hand the
 * peers their data in bursts instead of waking them once per message. A
 * socket whose unsent data already exceeds `maxBufferedBytes` when its turn
 * comes is a slow reader: it is handed to `onSlow` instead of written to.
 */

/** What the outbox needs of a WebSocket (the `ws` one fits). */
export interface OutSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(text: string): void;
}

/** A connection with a socket; `pending` belongs to the outbox. */
export interface OutboxEntry {
  readonly ws: OutSocket;
  pending?: string[];
}

const OPEN = 1;

export class Outbox<C extends OutboxEntry> {
  private dirty: C[] = [];
  private scheduled = false;

  constructor(private readonly maxBufferedBytes: number, private readonly onSlow: (conn: C) => void) {}

  /** Queue a text frame for `conn`; dropped when its socket is not open. */
  send(conn: C, text: string): void {
    if (conn.ws.readyState !== OPEN) return;
    if (conn.pending) {
      conn.pending.push(text);
      return;
    }
    conn.pending = [text];
    this.dirty.push(conn);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAll);
    }
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const conn of dirty) this.flush(conn);
  };

  /** Write what is queued for one connection now (before closing it, say). */
  flush(conn: C): void {
    const out = conn.pending;
    conn.pending = undefined;
    const ws = conn.ws;
    if (!out || ws.readyState !== OPEN) return;
    if (ws.bufferedAmount > this.maxBufferedBytes) {
      this.onSlow(conn);
      return;
    }
    for (const text of out) ws.send(text);
  }
}
