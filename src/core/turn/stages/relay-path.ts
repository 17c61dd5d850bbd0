/**
 * Stage 3, the UDP relayed data path: a second allocation, permissions
 * between the two relayed addresses, messages relayed over Send/Data
 * indications and over channels (with a small-message probe that tells a
 * size limit from a blocked port), the channel-rebind rule, the bandwidth
 * search when asked, and the path to and from a peer outside the server.
 * Rows: permission, relay-indication, channel-bind, relay-channel,
 * relay-size, relay-path, bandwidth, channel-rebind, peer-to-relay,
 * relay-to-peer.
 */
import { toRtcprobeError } from '../../errors.js';
import type { TransportAddress } from '../../stun/attributes.js';
import { ErrorCodes } from '../../stun/constants.js';
import { classifyAddress } from '../addresses.js';
import { TurnClient, TurnErrorResponse } from '../client.js';
import { addr, errText, isCode, refusalText, type ServerCheck } from '../context.js';
import { measurePath, measureRemotePeer, type PathEnds, type PathResult } from '../datapath.js';
import {
  HEAVY_LOSS, LOOPBACK_PEERS_REFUSED, OPEN_RELAY_PORTS_TO_ALL, ownRelayRefused, RELAY_PATH_BLOCKED, RELAY_PORTS_BLOCKED, SOME_LOSS,
} from '../hints.js';
import { MIN_CHANNEL } from '../protocol.js';
import type { OutsidePeer } from '../report.js';
import { bandwidthCheck } from './bandwidth.js';
import { allocateFresh } from './allocate.js';

/** Payload of the small messages tried when large ones are lost. */
const SMALL_SIZE = 100;

/**
 * The relayed path from allocation `a`: between two allocations of ours,
 * then with an outside peer. Returns the second allocation's client (still
 * allocated, for the stages after this one), or undefined when none was made.
 */
export async function relayPath(x: ServerCheck, a: TurnClient): Promise<TurnClient | undefined> {
  const al = a.allocation!;
  let b: TurnClient | undefined;
  try {
    b = await allocateFresh(x, await x.open(x.t.credentials), x.relayFamily ? { family: x.relayFamily } : {});
  } catch (err) {
    x.add('permission', 'skip', `a second allocation for the data path failed: ${errText(err)}`);
    skipDataRows(x, 'not run: no second allocation');
  }
  let between: Between | undefined;
  if (b) between = await betweenAllocations(x, a, b, al.relayed, b.allocation!.relayed);
  await outsidePeer(x, a, al.relayed, al.mapped, between?.any);
  // The bandwidth search runs last: it saturates the allocation, and a server
  // that enforces a rate limit (coturn's max-bps) may still be throttling it
  // for a while, which must not be taken for a broken outside path.
  if (between?.search) await between.search();
  return b;
}

/** The rows a relayed path between our allocations would have given. */
function skipDataRows(x: ServerCheck, why: string): void {
  for (const name of ['relay-indication', 'channel-bind', 'relay-channel', 'channel-rebind']) x.add(name, 'skip', why);
  if (x.o.bandwidth) x.add('bandwidth', 'skip', why);
}

/**
 * What the path between our allocations showed: whether any relayed message
 * came back (undefined: not run), and the bandwidth search to run on that
 * path once the other checks are done (when asked for and possible).
 */
interface Between {
  any: boolean | undefined;
  search?: () => Promise<void>;
}

/** The relayed path between our two allocations. */
async function betweenAllocations(x: ServerCheck, a: TurnClient, b: TurnClient, relayA: TransportAddress, relayB: TransportAddress): Promise<Between> {
  const { o } = x;
  const both = `${addr(relayA)} <-> ${addr(relayB)}`;
  try {
    await a.createPermission([relayB]);
    await b.createPermission([relayA]);
    x.add('permission', 'pass', `permissions between our two relayed addresses ${both}`);
  } catch (err) {
    const what = refusalText(err);
    if (err instanceof TurnErrorResponse && classifyAddress(relayA.address) === 'loopback') {
      x.add('permission', 'skip',
        `the server refuses loopback peers (${err.errorCode || 'an error without ERROR-CODE'}), which is the safe setting; both relayed addresses are loopback (${both}), so the relayed path cannot be exercised on this host`,
        x.hint(LOOPBACK_PEERS_REFUSED));
    } else if (err instanceof TurnErrorResponse) {
      x.add('permission', 'fail', `CreatePermission toward our own relayed address was refused: ${what}`,
        x.hint(ownRelayRefused(relayB.address, isCode(err, ErrorCodes.Forbidden))));
    } else {
      x.add('permission', 'fail', `CreatePermission toward our own relayed address failed: ${what}`, 'the server did not answer a CreatePermission it should grant: see the server log');
    }
    skipDataRows(x, 'not run: no permission between the two allocations');
    return { any: undefined };
  }
  const common = { count: o.count, size: o.size, rate: o.rate, drain: Math.max(1000, Math.min(o.timeout, 3000)), ...x.signalOption };
  const ends: PathEnds = { a, b, relayA, relayB };
  const channels: PathEnds = { ...ends, channelA: MIN_CHANNEL, channelB: MIN_CHANNEL };
  const measured = (r: PathResult) => ({ ...r, server: x.label, transport: x.transport, relayA: addr(relayA), relayB: addr(relayB) });
  x.progress('relaying over Send/Data indications');
  const ind = await measurePath(ends, 'indication', common);
  x.report.paths.push(measured(ind));

  let chan: PathResult | undefined;
  let bindErr: unknown;
  try {
    await a.channelBind(MIN_CHANNEL, relayB);
    await b.channelBind(MIN_CHANNEL, relayA);
    x.progress('relaying over channels');
    chan = await measurePath(channels, 'channel', common);
    x.report.paths.push(measured(chan));
  } catch (err) {
    if (toRtcprobeError(err).code === 'ABORTED') throw err;
    bindErr = err;
  }

  // Large messages lost: try small ones on the same path before blaming a firewall.
  let sizeLimit: { small: PathResult; size: number } | undefined;
  const lossy = (r: PathResult | undefined) => !r || r.loss > 0.2;
  if (o.size > SMALL_SIZE && lossy(ind) && lossy(chan)) {
    x.progress('trying small messages');
    const smallOptions = { ...common, count: 10, size: SMALL_SIZE, rate: 50 };
    const small = chan ? await measurePath(channels, 'channel', smallOptions) : await measurePath(ends, 'indication', smallOptions);
    if (small.loss <= 0.2) sizeLimit = { small, size: o.size };
  }

  pathRow(x, 'relay-indication', 'Send/Data indications', ind, relayA, sizeLimit);
  if (chan) {
    x.add('channel-bind', 'pass', `channel 0x${MIN_CHANNEL.toString(16)} bound on both allocations`);
    pathRow(x, 'relay-channel', 'ChannelData', chan, relayA, sizeLimit);
  } else {
    x.add('channel-bind', 'fail', `ChannelBind failed: ${errText(bindErr)}`, 'browsers use channels for media: check the server log');
    x.add('relay-channel', 'skip', 'not run: no channel');
  }
  if (sizeLimit) {
    const sm = sizeLimit.small;
    x.add('relay-size', 'fail',
      `${o.size}-byte messages are lost on the relayed path (indications ${ind.received}/${ind.sent}${chan ? `, channels ${chan.received}/${chan.sent}` : ''}), while ${SMALL_SIZE}-byte messages pass (${sm.received}/${sm.sent}): a size limit, not a blocked port`,
      `the path or the server does not carry messages of ${o.size} bytes: a datagram larger than the path MTU (about 1500 bytes with headers) is fragmented and fragments are often dropped, or the server's receive buffer is smaller than the message and truncates it. Media packets stay below about 1200 bytes; retry with a smaller --size to measure the path`,
    );
  } else if (ind.received === 0 && (!chan || chan.received === 0)) {
    x.add('relay-path', 'fail',
      'allocations and permissions succeed, but not one relayed message arrived, neither through Send indications nor through channels',
      x.hint(RELAY_PATH_BLOCKED));
  }

  let search: (() => Promise<void>) | undefined;
  if (o.bandwidth) {
    const bw = o.bandwidth;
    if (chan && chan.received > 0) search = () => bandwidthCheck(x, channels, 'channel', bw);
    else if (ind.received > 0) search = () => bandwidthCheck(x, ends, 'indication', bw);
    else search = async () => { x.add('bandwidth', 'skip', 'no relayed message came back, so there is no rate to search'); };
  }

  // Rebinding the peer to another channel must fail with 400 (RFC 8656 §11.2).
  if (chan) {
    try {
      await a.channelBind(MIN_CHANNEL + 1, relayB);
      x.add('channel-rebind', 'warn', `binding ${addr(relayB)} to a second channel 0x${(MIN_CHANNEL + 1).toString(16)} was accepted`, 'RFC 8656 §12 requires 400 (Bad Request) when a peer is already bound to another channel');
    } catch (err) {
      if (isCode(err, ErrorCodes.BadRequest)) x.add('channel-rebind', 'pass', `rebinding the peer to channel 0x${(MIN_CHANNEL + 1).toString(16)} refused with 400, as RFC 8656 requires`);
      else if (toRtcprobeError(err).code === 'TIMEOUT') x.add('channel-rebind', 'warn', 'rebinding the peer to another channel got no answer at all, where RFC 8656 requires 400 (Bad Request)', 'a server that stays silent instead of answering an error makes clients wait for their retransmission timeout');
      else x.add('channel-rebind', 'warn', `rebinding the peer to another channel failed, but not with 400: ${errText(err)}`, '');
    }
  } else {
    x.add('channel-rebind', 'skip', 'not run: no channel');
  }
  return { any: ind.received > 0 || (chan?.received ?? 0) > 0, ...(search ? { search } : {}) };
}

function pathRow(x: ServerCheck, name: string, what: string, r: PathResult, relay: TransportAddress, sizeLimit?: { size: number }): void {
  const sizeHint = sizeLimit ? `smaller messages pass: see ${x.prefix}.relay-size: the path or the server limits the message size` : undefined;
  if (r.received === 0) {
    x.add(name, 'fail', `${what}: 0/${r.sent} messages came back through ${addr(relay)}`, sizeHint ?? x.hint(RELAY_PORTS_BLOCKED));
    return;
  }
  const rtt = r.rtt!;
  const detail = `${what}: ${r.received}/${r.sent} echoed, loss ${(r.loss * 100).toFixed(1)}%, RTT min ${rtt.min} / median ${rtt.median} / p95 ${rtt.p95} / p99 ${rtt.p99} / max ${rtt.max} ms, jitter ${rtt.jitter} ms, ${r.throughput.messagesPerSecond} msg/s, ${(r.throughput.bitsPerSecond / 1000).toFixed(1)} kbit/s`;
  if (r.loss > 0.2) x.add(name, 'fail', detail, sizeHint ?? x.hint(HEAVY_LOSS));
  else if (r.loss > 0) x.add(name, 'warn', detail, x.hint(SOME_LOSS));
  else x.add(name, 'pass', detail);
}

/**
 * The path between the relay and a peer outside the server, our own UDP
 * socket playing that peer at its server-reflexive address. Relaying between
 * two allocations of one server can work while this fails: a firewall that
 * admits the server's own traffic to the relay ports but not the Internet's.
 */
async function outsidePeer(x: ServerCheck, a: TurnClient, relay: TransportAddress, mapped: TransportAddress | undefined, between: boolean | undefined): Promise<void> {
  const { o } = x;
  const skipBoth = (why: string) => {
    x.add('peer-to-relay', 'skip', why);
    x.add('relay-to-peer', 'skip', why);
  };
  if (x.transport !== 'udp') return skipBoth('not run: our socket plays the outside peer, which needs UDP to the server');
  if (!mapped) return skipBoth('not run: the Allocate response carried no XOR-MAPPED-ADDRESS, so our outside address is unknown');
  try {
    await a.createPermission([mapped]);
  } catch (err) {
    return skipBoth(`not run: a permission toward our own address ${mapped.address} was refused (${refusalText(err)})${classifyAddress(mapped.address) === 'loopback' ? ': loopback peers are refused, which is the safe setting' : ''}`);
  }
  x.progress('relaying to and from an outside peer');
  const r = await measureRemotePeer(a, relay, mapped, {
    count: Math.min(o.count, 20), rate: Math.min(o.rate, 100), size: o.size,
    drain: Math.max(1000, Math.min(o.timeout, 2000)), ...x.signalOption,
  });
  const ok = (d: { sent: number; received: number }) => d.received > 0 && d.received >= d.sent * 0.8;
  const p2r = r.peerToRelay;
  const r2p = r.relayToPeer;
  const firewall = x.hint(OPEN_RELAY_PORTS_TO_ALL);
  if (ok(p2r)) {
    x.add('peer-to-relay', 'pass', `${p2r.received}/${p2r.sent} datagrams from our socket (outside address ${addr(mapped)}) to the relayed address ${addr(relay)} came back in Data indications`);
  } else {
    x.add('peer-to-relay', 'fail', `${p2r.received}/${p2r.sent} datagrams sent straight from our socket (outside address ${addr(mapped)}) to the relayed address ${addr(relay)} reached us through the server`,
      between
        ? `relaying between two allocations of this server works, but datagrams from outside to the relayed address do not arrive: a firewall in front of the relay ports admits the server's own traffic and drops inbound UDP from elsewhere, so peers that are not clients of this server cannot reach relayed clients: ${firewall}`
        : `datagrams to the relayed address do not arrive: a firewall most likely drops inbound UDP to the relay ports: ${firewall}`);
  }
  // The peer-to-relay datagrams went first: they opened this host's NAT (if
  // any) for datagrams from the relayed address, as ICE's checks would.
  const local = a.local;
  const behindNat = !(local.address === mapped.address && local.port === mapped.port) && local.address !== '0.0.0.0' && local.address !== '::';
  const seenFrom = r.seenFrom;
  const perDestination = !!seenFrom && !(seenFrom.address === mapped.address && seenFrom.port === mapped.port);
  const outside = (relayToPeer: OutsidePeer['relayToPeer'], reason?: string): void => {
    x.info.outsidePeer = {
      relayToPeer,
      behindNat,
      ...(seenFrom ? { seenFrom: addr(seenFrom), mappingPerDestination: perDestination } : {}),
      ...(reason ? { reason } : {}),
    };
  };
  const toMapped = `${r2p.received}/${r2p.sent} Send indications toward our outside address ${addr(mapped)} arrived on our socket from the relayed address ${addr(relay)}`;
  if (ok(r2p)) {
    x.add('relay-to-peer', 'pass', behindNat
      ? `${toMapped}, through this host's NAT (local address ${addr(local)}), opened by the peer-to-relay datagrams our socket had sent to ${addr(relay)} first (the hole-punch a NAT that filters by address needs)`
      : toMapped);
    outside('arrived');
  } else if (ok(p2r) && perDestination) {
    // Our datagrams to the relay left this host's NAT from another outside
    // address than those to the server: the NAT maps each destination apart
    // (symmetric), and its mapping toward the server admits only the server.
    const reason = `this host's NAT maps each destination to its own outside port (toward the server ${addr(mapped)}, toward the relayed address ${addr(seenFrom!)}) and drops datagrams from the relayed address to the mapping the server knows`;
    x.add('relay-to-peer', 'warn',
      `not verified: this host's NAT filters datagrams from the relayed address ${addr(relay)} toward our outside address ${addr(mapped)} (${r2p.received}/${r2p.sent} arrived, after a hole-punch): ${reason}. Peer to relay works, so the relay ports are reachable; the relay's sending to outside peers cannot be shown from behind this NAT`,
      'not a fault of the server: to verify that the relay reaches outside peers, run this check from a host without NAT or behind a NAT with endpoint-independent mapping; for calls, a NAT like this one makes direct paths unlikely and this relay needed',
      "relay to peer not verified (this host's NAT)");
    outside('not-verified-nat', reason);
  } else {
    x.add('relay-to-peer', 'fail', ok(p2r) ? `${toMapped}, though our socket had sent to it first from that same outside address (a hole-punch)` : toMapped,
      between
        ? `relaying between two allocations works, but the relay cannot send to an outside address: an outbound firewall on the TURN host drops UDP from the relay ports toward the Internet, or a firewall in front of this machine drops datagrams from the relayed address${ok(p2r) && behindNat ? ' (the ordinary filtering of a NAT here does not explain it: our datagrams to the relayed address left from the same outside address and opened it)' : ''}`
        : 'the relay could not send to an outside address: check outbound UDP from the relay ports on the TURN host, and the firewall in front of this machine');
    outside('failed');
  }
}
