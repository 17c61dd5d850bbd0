/** The forwarding table of the selective forwarding unit: pure, no I/O. */
export * from './router.js';
