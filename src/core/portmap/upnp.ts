/**
 * The minimum of UPnP IGD needed to learn the external address: find the
 * WAN connection service in a device description, build the SOAP
 * GetExternalIPAddress request, parse its response. Pure: no I/O. A
 * deliberately small reader (no XML library): it looks at element text only.
 */
import { isIP } from 'node:net';

const WAN_SERVICE = /^urn:schemas-upnp-org:service:WAN(IP|PPP)Connection:\d+$/;

/** Unescapes the five predefined XML entities and numeric references. */
function unescapeXml(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

/** Text of the first element with this local name (any namespace prefix) inside xml. */
export function elementText(xml: string, name: string): string | undefined {
  const re = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}(?:\\s[^>]*)?(?:/>|>([\\s\\S]*?)</(?:[A-Za-z_][\\w.-]*:)?${name}\\s*>)`);
  const m = re.exec(xml);
  if (!m) return undefined;
  return unescapeXml((m[1] ?? '').trim());
}

export interface WanService {
  serviceType: string;
  /** Absolute control URL, resolved against URLBase or the description's own URL. */
  controlUrl: string;
}

/** The first WANIPConnection or WANPPPConnection service of a device description. */
export function findWanService(descriptionXml: string, descriptionUrl: string): WanService | undefined {
  const base = elementText(descriptionXml, 'URLBase') || descriptionUrl;
  for (const m of descriptionXml.matchAll(/<(?:[\w.-]+:)?service(?:\s[^>]*)?>([\s\S]*?)<\/(?:[\w.-]+:)?service\s*>/g)) {
    const block = m[1]!;
    const serviceType = elementText(block, 'serviceType');
    const control = elementText(block, 'controlURL');
    if (!serviceType || !control || !WAN_SERVICE.test(serviceType)) continue;
    try {
      return { serviceType, controlUrl: new URL(control, base).toString() };
    } catch {
      continue;
    }
  }
  return undefined;
}

/** The SOAP request body and SOAPAction header of GetExternalIPAddress. */
export function encodeGetExternalIpRequest(serviceType: string): { body: string; soapAction: string } {
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:GetExternalIPAddress xmlns:u="${serviceType}"></u:GetExternalIPAddress></s:Body></s:Envelope>\r\n`;
  return { body, soapAction: `"${serviceType}#GetExternalIPAddress"` };
}

export type ExternalIpAnswer =
  | { kind: 'address'; externalAddress: string }
  /** The gateway answered, but with no usable address (empty, 0.0.0.0, not an IP). */
  | { kind: 'no-address'; value: string }
  | { kind: 'fault'; errorCode?: number; errorDescription?: string }
  | { kind: 'malformed' };

/** Parses the SOAP response (or SOAP fault) to GetExternalIPAddress. */
export function parseGetExternalIpResponse(xml: string): ExternalIpAnswer {
  if (/<(?:[\w.-]+:)?Fault[\s>]/.test(xml)) {
    const code = elementText(xml, 'errorCode');
    const out: ExternalIpAnswer = { kind: 'fault' };
    if (code !== undefined && /^\d+$/.test(code)) out.errorCode = Number(code);
    const desc = elementText(xml, 'errorDescription');
    if (desc !== undefined) out.errorDescription = desc;
    return out;
  }
  if (!/GetExternalIPAddressResponse/.test(xml)) return { kind: 'malformed' };
  const value = elementText(xml, 'NewExternalIPAddress');
  if (value === undefined) return { kind: 'malformed' };
  if (isIP(value) === 0 || value === '0.0.0.0') return { kind: 'no-address', value };
  return { kind: 'address', externalAddress: value };
}
