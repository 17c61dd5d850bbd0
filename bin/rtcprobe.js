#!/usr/bin/env node
// The only place that touches process: exit codes and signals.
import { main } from '../dist/cli.js';

const controller = new AbortController();
let interrupted = 0;
const onSignal = (sig) => {
  interrupted++;
  if (interrupted > 1) process.exit(130);
  controller.abort(new Error(`received ${sig}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  signal: controller.signal,
});
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
// Interrupted mid-run: 130. A long-running command that stopped cleanly on the signal keeps its 0.
process.exitCode = interrupted && code !== 0 ? 130 : code;
