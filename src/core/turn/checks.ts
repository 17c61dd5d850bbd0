/**
 * The checks of `rtcprobe turn`: each step of a TURN deployment's life, from
 * DNS to Deallocate, as a row with a status, a detail and (when something is
 * wrong) a hint naming the likely misconfiguration. This module is the entry
 * point the command loads; where things live:
 *   report.ts    rows, statuses, warning labels, the report (JSON) shape
 *   context.ts   targets, options, and what one server's stages share
 *   runner.ts    the order of the stages, aborts, release of allocations
 *   stages/      one module per stage: connect (DNS, TCP/TLS), allocate
 *                (auth, relayed address), relay-path (UDP data path, outside
 *                peer, size probe), bandwidth, security, quota, tcp-relay
 *                (RFC 6062), deallocate (refresh too)
 *   judge.ts     rows -> verdict, ok (exit code), warnings: pure
 *   hints.ts     hint wording, RFC-neutral or coturn's, chosen by SOFTWARE
 * The measurements themselves are in datapath.ts, bandwidth.ts and
 * tcp-relay.ts; the TURN client in client.ts, its messages in protocol.ts.
 */
export { runTurnChecks } from './runner.js';
export { type CredentialSource, type TurnCheckOptions, type TurnTarget } from './context.js';
export type { CheckRow, CheckStatus, RelaySummary, TurnReport, TurnVerdict } from './report.js';
