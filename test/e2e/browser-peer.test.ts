/**
 * Interop with a real browser: a headless Chromium page joins a room on
 * `rtcprobe signal serve` next to `rtcprobe peer` (the built CLI), speaking
 * the relay's protocol and rtcprobe's SDP and probe formats itself
 * (test/browser/peer-page.js). Probes go both ways: the page echoes
 * rtcprobe's probes and rtcprobe echoes the page's; rtcprobe's audio RTP
 * (PCMU, also when the browser offers opus first) reaches the browser's audio
 * receiver and is decoded there.
 *
 * Chromium is kept off the network (test/helpers/browser.ts). It hides host
 * addresses behind mDNS names unless WebRtcHideLocalIpsWithMdns is disabled,
 * which the helper does, so its SDP carries plain host candidates. Chromium
 * leaves loopback out of ICE gathering, so its candidates are the machine's
 * own interface addresses; rtcprobe peer --loopback offers 127.0.0.1 only.
 * Either way every packet stays on this machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect, it, vi } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { track } from '../helpers/signal.js';
import { browserPeerPage, browserReport, describeWithChromium, expectLoopbackOnly, isThisMachine, jsonLines, relayAndChromium, stopChild, type PeerConn } from '../helpers/browser.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

describeWithChromium('Chromium and rtcprobe peer on rtcprobe signal serve', () => {
  const env = relayAndChromium();

  for (const [browserId, rtcprobeId, browserRole] of [
    ['zz-chromium', 'a-rtcprobe', 'answerer'],
    ['0-chromium', 'b-rtcprobe', 'offerer'],
  ] as const) {
    it(`the browser as the ${browserRole}: host path, probes echoed both ways, PCMU audio into the browser${browserRole === 'answerer' ? ' and out of it' : ''}`, async () => {
      const room = `browser-${browserRole}-${process.pid}`;
      const { page, log } = await browserPeerPage(env.browser);
      let peer: ChildProcess | undefined;
      try {
        await page.evaluate((o) => (window as unknown as { rtcprobePeer: { start(o: unknown): Promise<boolean> } }).rtcprobePeer.start(o), { url: env.relay.ws, room, peerId: browserId, rate: 50, size: 200, audioTrack: browserRole === 'answerer', pcmuFirst: false });
        peer = track(spawn(process.execPath, [BIN, 'peer', '--signal', env.relay.ws, '--room', room, '--peer-id', rtcprobeId, '--loopback', '--channels', 'data,audio,video', '--stats-interval', '500', '--timeout', '30000', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
        let stderr = '';
        peer.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const out = jsonLines(peer);
        const connected = await out.next((j) => j.event === 'peer-connected' || j.event === 'peer-failed', 45_000);
        const why = async () => `${stderr}\n${JSON.stringify(connected)}\nbrowser: ${JSON.stringify(await browserReport(page).catch((e: unknown) => String(e)))}\nconsole: ${log.console.join('\n')}`;
        if (connected.event !== 'peer-connected') expect.fail(await why());
        expect(connected).toMatchObject({ event: 'peer-connected', peerId: rtcprobeId, remote: browserId, role: browserRole === 'answerer' ? 'offerer' : 'answerer', pair: { local: 'host' } });
        // Host candidates only (no ICE server on either side). Chromium's remote side is one of its
        // host candidates, or peer-reflexive when its checks reached rtcprobe from an address it did
        // not signal (it gathers no loopback candidate; see docs/testing.md): either way an address of
        // this machine, never a server-reflexive or relayed one.
        const pairOk = (pair: { local: string; remote: string; remoteAddress?: string } | undefined) => {
          expect(pair?.local).toBe('host');
          expect(['host', 'prflx']).toContain(pair?.remote);
          expect(isThisMachine(pair!.remoteAddress!), pair!.remoteAddress).toBe(true);
        };
        pairOk(connected.pair as { local: string; remote: string; remoteAddress?: string });
        // rtcprobe's probes come back from the browser on both channels.
        const echoedBoth = (j: Record<string, unknown>) => {
          const c = (j.connections as PeerConn[] | undefined)?.[0];
          return j.event === 'stats' && (c?.dc?.reliable.echoed ?? 0) > 20 && (c?.dc?.unreliable.echoed ?? 0) > 20;
        };
        await out.next(echoedBoth, 30_000);
        // The browser's probes come back from rtcprobe, and rtcprobe's audio arrives.
        await page.waitForFunction(
          () => {
            const s = (window as unknown as { rtcprobeState: { probes: Record<string, { echoed: number }> } }).rtcprobeState;
            return s.probes.reliable!.echoed > 20 && s.probes.unreliable!.echoed > 20;
          },
          { timeout: 30_000, polling: 100 },
        );
        const audioIn = async () => ((await browserReport(page)).stats.inbound ?? []).find((x) => x.kind === 'audio')?.packetsReceived ?? 0;
        const deadline = Date.now() + 20_000;
        while ((await audioIn()) < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

        // Stop: rtcprobe first (it waits for its last echoes from the still-running page), then the page's probes.
        const code = await stopChild(peer);
        const summary = out.lines.find((j) => j.event === 'summary') as { ok: boolean; connections: PeerConn[]; failures: unknown[] } | undefined;
        await page.evaluate(() => (window as unknown as { rtcprobePeer: { stopProbes(): void } }).rtcprobePeer.stopProbes());
        const br = await browserReport(page);

        expect(code, stderr).toBe(0);
        expect(summary?.ok).toBe(true);
        expect(summary!.failures).toEqual([]);
        const c = summary!.connections.find((x) => x.remote === browserId)!;
        pairOk(c.pair);
        // rtcprobe's RTT samples come from the browser's echoes: every reliable probe came back.
        const rel = c.dc!.reliable;
        expect(rel.sent).toBeGreaterThan(20);
        expect(rel.echoed).toBe(rel.sent);
        expect(rel.rttMs!.count).toBe(rel.echoed);
        expect(rel.rttMs!.min).toBeGreaterThan(0);
        expect(c.dc!.unreliable.rttMs!.count).toBeGreaterThan(20);
        // rtcprobe received the browser's probes (and echoed them: the browser's RTTs below).
        expect(rel.received.received).toBeGreaterThan(20);

        expect(br.connected).toBe(true);
        expect(br.role).toBe(browserRole);
        expect(br.errors).toEqual([]);
        // Chromium's side of the same pair: no ICE server, so host candidates only. Chromium gathers on
        // the machine's interfaces but not loopback; against rtcprobe's 127.0.0.1 the checks teach it a
        // peer-reflexive 127.0.0.1 (local, or remote when rtcprobe's checks beat its answer): prflx is
        // the host path seen from a socket that was not signalled, never a server-reflexive or relay one.
        expect(['host', 'prflx']).toContain(br.stats.pair?.local?.type);
        expect(['host', 'prflx']).toContain(br.stats.pair?.remote?.type);
        expect([br.stats.pair!.local!.type, br.stats.pair!.remote!.type]).toContain('host');
        // The browser's own RTTs, from rtcprobe's echoes, on both channels; every reliable one came back.
        const brel = br.probes.reliable;
        expect(brel.rtt.length).toBeGreaterThan(20);
        expect(brel.echoed).toBe(brel.rtt.length);
        expect(Math.min(...brel.rtt)).toBeGreaterThan(0);
        expect(br.probes.unreliable.rtt.length).toBeGreaterThan(20);
        // The browser echoed what rtcprobe sent it.
        expect(brel.echoedBack).toBe(brel.receivedFromRemote);
        expect(brel.echoedBack).toBeGreaterThanOrEqual(rel.sent);
        // rtcprobe's audio RTP, PCMU, decoded by the browser's receiver: of the samples it played out
        // (8 kHz), at least 200 ms' worth were decoded from packets rather than concealed.
        const audio = br.stats.inbound!.find((x) => x.kind === 'audio');
        expect(audio?.mimeType).toBe('audio/PCMU');
        expect(audio!.packetsReceived).toBeGreaterThanOrEqual(25);
        expect(audio!.totalSamplesReceived, JSON.stringify(audio)).toBeGreaterThan(0);
        expect(audio!.totalSamplesReceived! - audio!.concealedSamples!, JSON.stringify(audio)).toBeGreaterThanOrEqual(1600);
        if (browserRole === 'offerer') {
          // Chromium's own codec order, opus first (the page does not reorder it): rtcprobe answers PCMU.
          const offered = br.events.find((e) => e.event === 'offer-sent')?.audioCodecs ?? [];
          expect(offered[0]).toBe('opus/48000');
          expect(offered).toContain('PCMU/8000');
          expect(br.events.find((e) => e.event === 'answer-received')?.audioCodecs).toEqual(['PCMU/8000']);
        }
        if (browserRole === 'answerer') {
          // rtcprobe offered video too: its synthetic VP8-labelled RTP reaches the browser's video receiver.
          expect(br.stats.inbound!.find((x) => x.kind === 'video')?.packetsReceived).toBeGreaterThan(0);
          // The browser sends its (fake) microphone as PCMU; rtcprobe counts it.
          expect(br.stats.outbound!.find((x) => x.kind === 'audio')).toMatchObject({ mimeType: 'audio/PCMU' });
          expect(c.audio!.packetsReceived).toBeGreaterThan(25);
          expect(c.video).toBeUndefined();
        } else {
          // The browser offered receive-only audio and no video: rtcprobe sends audio only and reports
          // no RTP figures for streams that were never coming (no "0% loss" from silence).
          expect(br.stats.inbound!.find((x) => x.kind === 'video')).toBeUndefined();
          expect(c.audio).toBeUndefined();
          expect(c.video).toBeUndefined();
        }
        expect(log.errors).toEqual([]);
        expect(log.requests).toEqual([]);
      } finally {
        if (peer) await stopChild(peer, 'SIGKILL');
        await page.close().catch(() => {});
      }
    });
  }

  it('Chromium itself reached nothing but this machine (its NetLog)', async () => {
    const net = await env.browser.close();
    expectLoopbackOnly(net);
  });
});
