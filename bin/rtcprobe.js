#!/usr/bin/env node
// The only code that touches process: exit codes and signals.
//
// The command itself runs in a worker thread (bin/worker.js). This thread runs
// nothing else, so it always handles a signal at once, even when the command
// is stuck in a busy loop:
// - first SIGINT or SIGTERM: the command is asked to stop cleanly (its
//   AbortSignal fires) and prints what it has;
// - second one: "second signal" on stderr, the command gets up to
//   FORCE_GRACE_MS to print a partial summary, then the process exits 130;
// - a third one, or a command that does not answer in time: exit 130 at once.
import { writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

const FORCE_GRACE_MS = 1000;
// Safety net once the command is done (see the 'done' handler). With the werift patches in patches/
// applied the worker ends by itself at once; RTCPROBE_EXIT_GRACE_MS changes the net (tests set it
// high to show that nothing needs it).
const DONE_GRACE_MS = Number(process.env.RTCPROBE_EXIT_GRACE_MS) > 0 ? Number(process.env.RTCPROBE_EXIT_GRACE_MS) : 2000;
const SIGNALS = ['SIGINT', 'SIGTERM'];

const say = (text) => {
  try {
    writeSync(2, text);
  } catch {
    // stderr is gone: nothing left to tell
  }
};

let signals = 0;
let result;
let grace;
const worker = new Worker(new URL('./worker.js', import.meta.url), {
  workerData: { argv: process.argv.slice(2) },
});

const onSignal = (sig) => {
  signals++;
  if (signals === 1) {
    worker.postMessage({ type: 'abort', signal: sig });
  } else if (signals === 2) {
    say(`rtcprobe: second signal (${sig}), exiting without a clean stop\n`);
    worker.postMessage({ type: 'force', signal: sig });
    grace = setTimeout(() => process.exit(130), FORCE_GRACE_MS);
  } else {
    process.exit(130);
  }
};
for (const s of SIGNALS) process.on(s, onSignal);
// A worker gets no SIGWINCH of its own: pass on terminal resizes (the spinner needs the width).
const onResize = () => worker.postMessage({ type: 'resize' });
process.on('SIGWINCH', onResize);

worker.on('message', (m) => {
  if (m?.type === 'done') {
    result = m.code;
    // The command is over and its output written. Unpatched werift (an install where the postinstall
    // could not apply patches/, e.g. rtcprobe installed as a dependency) never cancels its TURN
    // allocation refresh, which sleeps 5/6 of the allocation lifetime (minutes) after close: such a
    // timer must not keep the process alive, so end the worker if it has not ended by itself shortly.
    setTimeout(() => void worker.terminate(), DONE_GRACE_MS).unref();
  }
  else if (m?.type === 'forced') process.exit(130);
});
worker.on('error', (err) => {
  // A bug escaped the command: one line, never a stack trace (and the JSON error document under --json).
  const message = err instanceof Error ? err.message : String(err);
  if (process.argv.includes('--json')) {
    try {
      writeSync(1, `${JSON.stringify({ error: { code: 'INTERNAL', message } })}\n`);
    } catch {
      // stdout is gone
    }
  }
  say(`error INTERNAL: ${message}\n`);
  result = 2;
});
worker.on('exit', () => {
  clearTimeout(grace);
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('SIGWINCH', onResize);
  const code = result ?? 2;
  // Interrupted mid-run: 130. A long-running command that stopped cleanly on
  // the first signal keeps its 0; a second signal always means 130.
  process.exitCode = signals > 1 || (signals > 0 && code !== 0) ? 130 : code;
});
