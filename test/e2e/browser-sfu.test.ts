/**
 * Interop with a real browser through the SFU: `rtcprobe signal serve`,
 * `rtcprobe sfu serve` and `rtcprobe peer` (the built CLI), and a headless
 * Chromium page (test/browser/peer-page.js) in the same room. Both clients
 * offer to the SFU (join meta role "sfu"); the SFU forwards each one's
 * data-channel probes to the other and the echoes back, and each one's RTP
 * to the other. See browser-peer.test.ts for the browser's flags.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect, it, vi } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { track } from '../helpers/signal.js';
import { browserPeerPage, browserReport, describeWithChromium, expectLoopbackOnly, jsonLines, relayAndChromium, stopChild, type PeerConn } from '../helpers/browser.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

describeWithChromium('Chromium and rtcprobe peer through rtcprobe sfu serve', () => {
  const env = relayAndChromium();

  it('the browser receives rtcprobe\'s forwarded probes and PCMU audio, echoes them, and its own probes and tone come back through the SFU', async () => {
    const room = `browser-sfu-${process.pid}`;
    const { page, log } = await browserPeerPage(env.browser);
    let sfu: ChildProcess | undefined;
    let peer: ChildProcess | undefined;
    try {
      sfu = track(spawn(process.execPath, [BIN, 'sfu', 'serve', '--signal', env.relay.ws, '--room', room, '--peer-id', 'sfu', '--loopback', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
      let sfuErr = '';
      sfu.stderr!.on('data', (d: Buffer) => (sfuErr += d.toString()));
      const sfuOut = jsonLines(sfu);
      await sfuOut.next((j) => j.event === 'joined', 30_000);
      // The browser's peerId sorts after the SFU's: it offers all the same (a room server is always offered to).
      await page.evaluate((o) => (window as unknown as { rtcprobePeer: { start(o: unknown): Promise<boolean> } }).rtcprobePeer.start(o), { url: env.relay.ws, room, peerId: 'zz-chromium', rate: 50, size: 200, audioTrack: true, viaServer: true });
      // The browser is up at the SFU before rtcprobe joins: the SFU fans a probe out to whoever is there
      // when it arrives, so rtcprobe's first probes would otherwise find nobody to echo them.
      await sfuOut.next((j) => j.event === 'participant-joined' && j.participant === 'zz-chromium', 30_000);
      await page.waitForFunction(
        () => {
          const s = (window as unknown as { rtcprobeState: { channels: Record<string, { readyState: string } | undefined> } }).rtcprobeState;
          return s.channels.reliable?.readyState === 'open' && s.channels.unreliable?.readyState === 'open';
        },
        { timeout: 30_000, polling: 50 },
      );
      peer = track(spawn(process.execPath, [BIN, 'peer', '--signal', env.relay.ws, '--room', room, '--peer-id', 'a-rtcprobe', '--loopback', '--channels', 'data,audio', '--stats-interval', '500', '--timeout', '30000', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
      let stderr = '';
      peer.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const out = jsonLines(peer);
      const connected = await out.next((j) => j.event === 'peer-connected' || j.event === 'peer-failed', 45_000);
      expect(connected, `${stderr}${sfuErr}`).toMatchObject({ event: 'peer-connected', remote: 'sfu', role: 'offerer' });
      // rtcprobe's probes reach the browser through the SFU, and the browser's echoes come back.
      await out.next((j) => {
        const c = (j.connections as PeerConn[] | undefined)?.[0];
        return j.event === 'stats' && (c?.dc?.reliable.echoed ?? 0) > 20;
      }, 30_000);
      await page.waitForFunction(
        () => {
          const s = (window as unknown as { rtcprobeState: { probes: Record<string, { echoed: number; receivedFromRemote: number }> } }).rtcprobeState;
          return s.probes.reliable!.echoed > 20 && s.probes.reliable!.receivedFromRemote > 20;
        },
        { timeout: 30_000, polling: 100 },
      );
      const audioIn = async () => ((await browserReport(page)).stats.inbound ?? []).find((x) => x.kind === 'audio')?.packetsReceived ?? 0;
      const deadline = Date.now() + 20_000;
      while ((await audioIn()) < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

      const code = await stopChild(peer);
      const summary = out.lines.find((j) => j.event === 'summary') as { ok: boolean; connections: PeerConn[] } | undefined;
      await page.evaluate(() => (window as unknown as { rtcprobePeer: { stopProbes(): void } }).rtcprobePeer.stopProbes());
      const br = await browserReport(page);

      expect(code, stderr).toBe(0);
      expect(summary?.ok).toBe(true);
      const c = summary!.connections.find((x) => x.remote === 'sfu')!;
      // rtcprobe's probes went SFU → browser → SFU → rtcprobe. Not all of them: through the SFU the
      // data-channel round trip sometimes takes about a second on loopback (also between two rtcprobe
      // peers, never on a direct connection), so the last ones are still on their way at the stop.
      const rel = c.dc!.reliable;
      const detail = JSON.stringify({ rtcprobe: rel, browser: { ...br.probes.reliable, rtt: br.probes.reliable.rtt.length } });
      expect(rel.sent, detail).toBeGreaterThan(20);
      expect(rel.echoed, detail).toBeGreaterThan(20);
      expect(rel.rttMs!.count).toBe(rel.echoed);
      // On the reliable channel the browser got an unbroken run of rtcprobe's sequence numbers.
      const bp = br.probes.reliable;
      expect(bp.receivedFromRemote, detail).toBe(bp.lastSeq! - bp.firstSeq! + 1);
      // The browser's probes arrived at rtcprobe through the SFU.
      expect(c.dc!.reliable.received.received).toBeGreaterThan(20);
      // The browser's PCMU tone, forwarded by the SFU, counted by rtcprobe.
      expect(c.audio!.packetsReceived).toBeGreaterThan(25);

      expect(br).toMatchObject({ connected: true, role: 'offerer', remote: 'sfu', server: true, errors: [] });
      expect(br.probes.reliable.rtt.length).toBeGreaterThan(20);
      expect(br.probes.reliable.echoed).toBe(br.probes.reliable.rtt.length);
      expect(br.probes.unreliable.rtt.length).toBeGreaterThan(0);
      expect(br.probes.reliable.echoedBack).toBe(br.probes.reliable.receivedFromRemote);
      // rtcprobe's audio, forwarded by the SFU on rtcprobe's SSRC (not in the SFU's SDP): Chromium routes it by payload type.
      const audio = br.stats.inbound!.find((x) => x.kind === 'audio');
      expect(audio?.mimeType).toBe('audio/PCMU');
      expect(audio!.packetsReceived).toBeGreaterThanOrEqual(25);
      expect(br.stats.outbound!.find((x) => x.kind === 'audio')).toMatchObject({ mimeType: 'audio/PCMU' });
      expect(log.errors).toEqual([]);
      expect(log.requests).toEqual([]);
    } finally {
      if (peer) await stopChild(peer, 'SIGKILL');
      if (sfu) await stopChild(sfu);
      await page.close().catch(() => {});
    }
  });

  it('Chromium itself reached nothing but this machine (its NetLog)', async () => {
    const net = await env.browser.close();
    expectLoopbackOnly(net);
  });
});
