import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeMSearch, parseSsdpResponse } from '../../../src/core/portmap/ssdp.js';
import { elementText, encodeGetExternalIpRequest, findWanService, parseGetExternalIpResponse } from '../../../src/core/portmap/upnp.js';

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/portmap/${name}`, import.meta.url));

describe('SSDP', () => {
  it('M-SEARCH has the multicast HOST, quoted MAN, MX clamped to 1-5 and the target', () => {
    const text = encodeMSearch('urn:schemas-upnp-org:device:InternetGatewayDevice:1', 9).toString('latin1');
    expect(text).toBe(
      'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 5\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n',
    );
    expect(encodeMSearch('ssdp:all', 0).toString('latin1')).toContain('\r\nMX: 1\r\n');
  });

  it('parses miniupnpd\'s search response', () => {
    const r = parseSsdpResponse(fixture('ssdp-igd-response.txt'));
    expect(r).toMatchObject({
      status: 200,
      location: 'http://192.0.2.1:34137/rootDesc.xml',
      server: 'Debian/6.18.44-fc-v669 UPnP/1.1 MiniUPnPd/2.3.1',
      st: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
    });
    expect(r?.usn).toMatch(/^uuid:[0-9a-f-]{36}::urn:schemas-upnp-org:device:InternetGatewayDevice:1$/);
    expect(r?.headers['ext']).toBe('');
  });

  it('header names are case-insensitive; the first occurrence wins', () => {
    const r = parseSsdpResponse(Buffer.from('HTTP/1.1 200 OK\r\nlocation: http://192.0.2.1/a.xml\r\nLocation: http://192.0.2.9/b.xml\r\n\r\n'));
    expect(r?.location).toBe('http://192.0.2.1/a.xml');
  });

  it('rejects a request (another M-SEARCH or a NOTIFY) and garbage', () => {
    expect(parseSsdpResponse(encodeMSearch('ssdp:all'))).toBeUndefined();
    expect(parseSsdpResponse(Buffer.from('NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n'))).toBeUndefined();
    expect(parseSsdpResponse(Buffer.from([0, 1, 2, 3]))).toBeUndefined();
  });
});

describe('UPnP IGD: description and GetExternalIPAddress', () => {
  it('finds the WANIPConnection service in miniupnpd\'s nested description', () => {
    const xml = fixture('miniupnpd-rootDesc.xml').toString('utf8');
    expect(findWanService(xml, 'http://192.0.2.1:34137/rootDesc.xml')).toEqual({
      serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2',
      controlUrl: 'http://192.0.2.1:34137/ctl/IPConn',
    });
  });

  it('resolves the control URL against URLBase when there is one, and finds WANPPPConnection', () => {
    const xml = '<root><URLBase>http://192.0.2.1:5000/</URLBase><device><serviceList>' +
      '<service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType><controlURL>/c1</controlURL></service>' +
      '<service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>ppp/ctl</controlURL></service>' +
      '</serviceList></device></root>';
    expect(findWanService(xml, 'http://192.0.2.1:80/desc.xml')).toEqual({
      serviceType: 'urn:schemas-upnp-org:service:WANPPPConnection:1',
      controlUrl: 'http://192.0.2.1:5000/ppp/ctl',
    });
    expect(findWanService('<root><device></device></root>', 'http://192.0.2.1/')).toBeUndefined();
  });

  it('builds the SOAP request for the service type found', () => {
    const { body, soapAction } = encodeGetExternalIpRequest('urn:schemas-upnp-org:service:WANIPConnection:2');
    expect(soapAction).toBe('"urn:schemas-upnp-org:service:WANIPConnection:2#GetExternalIPAddress"');
    expect(body).toMatch(/<u:GetExternalIPAddress xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><\/u:GetExternalIPAddress>/);
    expect(body).toMatch(/^<\?xml version="1.0"\?>/);
  });

  it('parses the address, an empty answer, a fault and garbage', () => {
    expect(parseGetExternalIpResponse(fixture('soap-get-external-ip-response.xml').toString())).toEqual({ kind: 'address', externalAddress: '198.51.100.2' });
    expect(parseGetExternalIpResponse(fixture('soap-get-external-ip-empty.xml').toString())).toEqual({ kind: 'no-address', value: '' });
    expect(parseGetExternalIpResponse(fixture('soap-fault-invalid-action.xml').toString())).toEqual({ kind: 'fault', errorCode: 401, errorDescription: 'Invalid Action' });
    expect(parseGetExternalIpResponse('<html>hello</html>')).toEqual({ kind: 'malformed' });
    expect(parseGetExternalIpResponse('<u:GetExternalIPAddressResponse><NewExternalIPAddress>0.0.0.0</NewExternalIPAddress></u:GetExternalIPAddressResponse>'))
      .toEqual({ kind: 'no-address', value: '0.0.0.0' });
  });

  it('element text: any namespace prefix, entities unescaped, self-closing is empty', () => {
    expect(elementText('<a:x>1 &amp; 2 &#65;&#x42;</a:x>', 'x')).toBe('1 & 2 AB');
    expect(elementText('<x/>', 'x')).toBe('');
    expect(elementText('<xy>no</xy>', 'x')).toBeUndefined();
  });
});
