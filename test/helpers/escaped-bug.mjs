// Loaded with `node --import` into the CLI: in the thread that runs the
// command, a promise rejects with nobody to catch it, as a bug would.
import { isMainThread } from 'node:worker_threads';

if (!isMainThread) setTimeout(() => Promise.reject(new Error('a bug escaped')), 0);
