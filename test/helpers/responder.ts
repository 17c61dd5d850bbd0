import dgram from 'node:dgram';
import { encodeAddress, encodeErrorCode, encodeXorAddress } from '../../src/core/stun/attributes.js';
import { Attr, StunClass, StunMethod } from '../../src/core/stun/constants.js';
import { appendFingerprint } from '../../src/core/stun/integrity.js';
import { decodeMessage, encodeMessage, type StunMessage } from '../../src/core/stun/message.js';

export interface Reply {
  data: Buffer;
  /** Send from the second socket (another port) instead of the listening one. */
  fromOtherPort?: boolean;
}

/** A STUN "server" on loopback whose answers a test scripts, for misbehaving-server cases. */
export interface Responder {
  port: number;
  otherPort: number;
  /** Every datagram received, decoded where possible. */
  received: { msg?: StunMessage; raw: Buffer; at: number }[];
  close(): Promise<void>;
}

export function successFor(req: StunMessage, port: number, address = '127.0.0.1', extra: { type: number; value: Buffer }[] = []): Buffer {
  return encodeMessage({
    method: StunMethod.Binding,
    cls: StunClass.SuccessResponse,
    transactionId: req.transactionId,
    attributes: [{ type: Attr.XorMappedAddress, value: encodeXorAddress({ address, port }, req.transactionId) }, ...extra],
  });
}

export const withFingerprint = appendFingerprint;

export function errorFor(req: StunMessage, code: number, reason: string): Buffer {
  return encodeMessage({
    method: StunMethod.Binding,
    cls: StunClass.ErrorResponse,
    transactionId: req.transactionId,
    attributes: [{ type: Attr.ErrorCode, value: encodeErrorCode(code, reason) }],
  });
}

export { encodeAddress };

export async function startResponder(script: (req: StunMessage, from: { address: string; port: number }, n: number) => Reply[]): Promise<Responder> {
  const main = dgram.createSocket('udp4');
  const other = dgram.createSocket('udp4');
  await new Promise<void>((r) => main.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => other.bind(0, '127.0.0.1', r));
  const received: Responder['received'] = [];
  main.on('message', (raw, rinfo) => {
    let msg: StunMessage | undefined;
    try { msg = decodeMessage(raw); } catch { msg = undefined; }
    received.push({ ...(msg ? { msg } : {}), raw, at: performance.now() });
    if (!msg) return;
    for (const reply of script(msg, { address: rinfo.address, port: rinfo.port }, received.length)) {
      (reply.fromOtherPort ? other : main).send(reply.data, rinfo.port, rinfo.address);
    }
  });
  return {
    port: main.address().port,
    otherPort: other.address().port,
    received,
    close: async () => {
      await new Promise<void>((r) => main.close(() => r()));
      await new Promise<void>((r) => other.close(() => r()));
    },
  };
}
