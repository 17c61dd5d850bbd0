import WebSocket from 'ws';

/** A bare WebSocket with a queue of parsed messages, for sending raw or bad frames. */
export interface RawPeer {
  ws: WebSocket;
  next(timeoutMs?: number): Promise<Record<string, any>>;
  nextOf(type: string, timeoutMs?: number): Promise<Record<string, any>>;
  send(x: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
  messages: Record<string, any>[];
}

export async function rawPeer(url: string, opts: WebSocket.ClientOptions = {}): Promise<RawPeer> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
  const messages: Record<string, any>[] = [];
  const waiters: (() => void)[] = [];
  let cursor = 0;
  ws.on('message', (d) => {
    try {
      messages.push(JSON.parse(d.toString()));
    } catch {
      messages.push({ type: '<unparsable>', raw: d.toString() });
    }
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  const next = async (timeoutMs = 10_000): Promise<Record<string, any>> => {
    const deadline = Date.now() + timeoutMs;
    while (cursor >= messages.length) {
      if (ws.readyState === WebSocket.CLOSED) throw new Error('closed while waiting for a message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no message in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return messages[cursor++]!;
  };
  return {
    ws,
    messages,
    next,
    async nextOf(type, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = await next(Math.max(1, deadline - Date.now()));
        if (m.type === type) return m;
      }
    },
    send: (x) => ws.send(typeof x === 'string' || Buffer.isBuffer(x) ? x : JSON.stringify(x)),
    closed,
  };
}

/** Poll a condition (a real state, not time) until true or the deadline. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
