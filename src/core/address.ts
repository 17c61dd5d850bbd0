/**
 * Transport addresses: the one type, formatter and comparison every area
 * uses for an IP address with a port.
 */
import { isIP } from 'node:net';

/** An IP address (or, before resolution, a host name) and a port. */
export interface Endpoint {
  address: string;
  port: number;
}

/** An endpoint whose IP family is known (STUN address attributes, resolved servers). */
export interface TransportAddress extends Endpoint {
  family: 4 | 6;
}

/** `host:port` with brackets around IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** An endpoint as `host:port` (`[v6]:port`); `missing` when there is none. */
export function formatEndpoint(a: Endpoint | null | undefined, missing = '-'): string {
  return a ? formatHostPort(a.address, a.port) : missing;
}

/** Same address and port; false when either side is missing. */
export function sameEndpoint(a?: Endpoint | null, b?: Endpoint | null): boolean {
  return !!a && !!b && a.address === b.address && a.port === b.port;
}

/** Only the address and port (drops family and any other field). */
export function endpointOf(a: Endpoint): Endpoint {
  return { address: a.address, port: a.port };
}
