// Loaded with `node --import` into the CLI: in the thread that runs the
// command, it says "spinning" on stderr once the command has started and then
// never yields to the event loop again, as a bug in a loop would.
import { writeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

if (!isMainThread) {
  setTimeout(() => {
    writeSync(2, 'spinning\n');
    for (;;) {
      // busy
    }
  }, 50);
}
