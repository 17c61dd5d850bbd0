/** The selective forwarding unit's pure parts: forwarding table, SDP reading, data-channel routing, rate limit. */
export * from './router.js';
export * from './sdp.js';
export * from './datachannel.js';
export * from './rate.js';
export * from './packet-check.js';
