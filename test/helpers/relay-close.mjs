// Two relay-only werift peers through the TURN server at argv[2] (port),
// argv[3] (user), argv[4] (password): connect, exchange a few probes, close,
// print "closed" and leave the process to end by itself (nothing calls exit).
import { connectPair } from '../../dist/core/rtc/pair.js';
import { runProbes, startEcho } from '../../dist/core/rtc/channel.js';
import { toRtcIceServers } from '../../dist/core/rtc/ice.js';

const [port, username, credential] = process.argv.slice(2);
const iceServers = toRtcIceServers([{ urls: [`turn:127.0.0.1:${port}?transport=udp`], username, credential }]);
const W = { timeoutMs: 20_000 };
const pair = await connectPair({ iceServers, relayOnly: true }, { iceServers, relayOnly: true }, W);
const a = await pair.offerer.dataChannels(W);
const b = await pair.answerer.dataChannels(W);
const stop = startEcho(b.reliable);
const r = await runProbes(a.reliable, { count: 5, sequential: true, timeoutMs: 10_000 });
stop();
await pair.close();
console.log(`closed ${r.received}`);
