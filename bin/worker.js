// Runs one command for bin/rtcprobe.js, in a worker thread: builds the Io from
// the real file descriptors, turns the main thread's signal messages into the
// command's AbortSignals and reports the exit code back.
import { writeSync } from 'node:fs';
import { isatty, WriteStream } from 'node:tty';
import { Writable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { main } from '../dist/cli.js';

/**
 * A terminal gets a tty.WriteStream (isTTY, columns, cursor moves; Node makes
 * its writes blocking). A pipe or a file gets synchronous writes, as Node does
 * for process.stdout on Linux; a reader that went away (EPIPE) ends the output
 * silently.
 */
function output(fd) {
  if (isatty(fd)) return new WriteStream(fd);
  let gone = false;
  return new Writable({
    decodeStrings: true,
    write(chunk, _enc, cb) {
      let off = 0;
      while (!gone && off < chunk.length) {
        try {
          off += writeSync(fd, chunk, off);
        } catch (err) {
          if (err?.code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
          else gone = true;
        }
      }
      cb();
    },
  });
}

/**
 * What Node does for process.stdout on SIGWINCH: ask the terminal for its size
 * again (getWindowSize() only returns the cached one), and emit 'resize' when
 * it changed.
 */
function refreshSize(s) {
  try {
    const size = [];
    if (s._handle?.getWindowSize(size) !== 0) return;
    const [columns, rows] = size;
    if (columns === s.columns && rows === s.rows) return;
    s.columns = columns;
    s.rows = rows;
    s.emit('resize');
  } catch {
    // not a terminal any more
  }
}

const stdout = output(1);
const stderr = output(2);
const abort = new AbortController();
const force = new AbortController();
parentPort.on('message', (m) => {
  if (m?.type === 'abort') abort.abort(new Error(`received ${m.signal}`));
  else if (m?.type === 'force') force.abort(new Error(`received ${m.signal} again`));
  else if (m?.type === 'resize') for (const s of [stdout, stderr]) if (s instanceof WriteStream) refreshSize(s);
});
// The port must not keep the thread alive once the command is done.
parentPort.unref();

const code = await main(workerData.argv, {
  stdout,
  stderr,
  env: process.env,
  signal: abort.signal,
  forceStop: force.signal,
});
parentPort.postMessage({ type: force.signal.aborted ? 'forced' : 'done', code });
for (const s of [stdout, stderr]) if (s instanceof WriteStream) s.destroy();
