import { EventEmitter } from 'node:events';
import type { Endpoint } from '../address.js';
import type { Transport } from '../uri.js';

export interface ChannelEvents {
  /** A complete message (datagram or framed stream chunk) from `from`. */
  message: (data: Buffer, from: Endpoint, stray: boolean) => void;
  /** A fatal transport error; the channel is unusable afterwards. */
  error: (err: Error) => void;
}

/**
 * A transport toward one server. For UDP, `stray` marks datagrams that came
 * from some address other than the server's: they are delivered so that the
 * caller can report them, never to be accepted as answers.
 */
export interface Channel {
  readonly transport: Transport;
  readonly reliable: boolean;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  send(data: Buffer): void;
  on<E extends keyof ChannelEvents>(event: E, listener: ChannelEvents[E]): void;
  close(): void;
}

/**
 * How a byte stream is cut into messages. The protocol code owns it; the
 * stream channel only applies it.
 */
export interface Framer {
  /**
   * Bytes the message at the head of `buf` occupies, or `undefined` while
   * its header is incomplete. Throws when the head cannot start a message
   * (or announces one larger than the protocol allows).
   */
  frameLength(buf: Buffer): number | undefined;
}

/**
 * The plumbing every channel shares: listeners, events, and a close that
 * runs once. Subclasses send and release their own sockets.
 */
export abstract class ChannelBase implements Channel {
  abstract readonly transport: Transport;
  abstract readonly reliable: boolean;
  abstract readonly local: Endpoint;
  abstract readonly remote: Endpoint;
  private readonly events = new EventEmitter();
  protected closed = false;

  abstract send(data: Buffer): void;

  /** Free the underlying sockets; called once, by `close()`. */
  protected abstract release(): void;

  on<E extends keyof ChannelEvents>(event: E, listener: ChannelEvents[E]): void {
    this.events.on(event, listener);
  }

  protected emit<E extends keyof ChannelEvents>(event: E, ...args: Parameters<ChannelEvents[E]>): void {
    this.events.emit(event, ...args);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }
}
