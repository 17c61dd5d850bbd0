// A child's stdout as JSON Lines, with a wait for the first line that matches.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Lines of a child's stdout as JSON documents, with a wait for one that matches. */
export function jsonLines(child: ChildProcess, defaultMs = 30_000) {
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (j: Record<string, unknown>) => boolean; resolve: (j: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(l) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(j);
    for (const w of [...waiters]) if (w.pred(j)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(j);
    }
  });
  return {
    lines,
    next: (pred: (j: Record<string, unknown>) => boolean, ms = defaultMs) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const hit = lines.find(pred);
        if (hit) return resolve(hit);
        const t = setTimeout(() => reject(new Error(`no matching line within ${ms} ms: ${JSON.stringify(lines.slice(-3)).slice(0, 2000)}`)), ms);
        waiters.push({ pred, resolve: (j) => { clearTimeout(t); resolve(j); } });
      }),
  };
}
