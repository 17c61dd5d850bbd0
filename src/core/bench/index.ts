/** Measurement maths of the latency benchmark: pure, no I/O. */
export * from './probe.js';
export * from './summary.js';
export * from './clock.js';
export * from './tracker.js';
export * from './connect.js';
