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
