/** Building blocks of the audio mixer: pure, no I/O. */
export * from './g711.js';
export * from './mixer.js';
export * from './jitter.js';
export * from './rtp.js';
export * from './impulse.js';
export * from './drain.js';
