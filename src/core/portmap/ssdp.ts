/**
 * SSDP (UPnP Device Architecture 1.1, section 1.3) search request and search
 * response parsing. Pure: no I/O.
 */

export const SSDP_ADDRESS = '239.255.255.250';
export const SSDP_PORT = 1900;
export const IGD_SEARCH_TARGETS = [
  'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
] as const;

/** An M-SEARCH request; mx is the maximum wait in seconds (1-5). */
export function encodeMSearch(st: string, mx = 1): Buffer {
  const wait = Math.min(5, Math.max(1, Math.round(mx)));
  return Buffer.from(
    `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_ADDRESS}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: ${wait}\r\nST: ${st}\r\n\r\n`,
    'latin1',
  );
}

export interface SsdpResponse {
  status: number;
  /** Header names in lower case; the first occurrence wins. */
  headers: Record<string, string>;
  location?: string;
  server?: string;
  st?: string;
  usn?: string;
}

/** Parses a unicast search response (HTTP/1.1 200 OK over UDP); undefined when it is not one. */
export function parseSsdpResponse(buf: Uint8Array): SsdpResponse | undefined {
  const text = Buffer.from(buf.buffer, buf.byteOffset, buf.length).toString('latin1');
  const lines = text.split(/\r?\n/);
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === '') break;
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!Object.hasOwn(headers, name)) headers[name] = line.slice(i + 1).trim();
  }
  const out: SsdpResponse = { status: Number(m[1]), headers };
  if (headers.location) out.location = headers.location;
  if (headers.server) out.server = headers.server;
  if (headers.st) out.st = headers.st;
  if (headers.usn) out.usn = headers.usn;
  return out;
}
