/** Headless WebRTC peers (werift adapter) and their data-channel traffic. */
export * from './ice.js';
export * from './media.js';
export * from './channel.js';
export * from './peer.js';
export * from './pair.js';
