/**
 * Interop with a real browser through the audio MCU: `rtcprobe signal
 * serve`, `rtcprobe mcu serve` and `rtcprobe peer --channels audio` (the
 * built CLI), and a headless Chromium page (test/browser/peer-page.js) in
 * the same room. Both offer to the MCU (join meta role "mcu"). Chromium
 * sends PCMU (a Web Audio tone) and decodes the mix it gets back, which is
 * rtcprobe's stream; rtcprobe gets the mix of the browser's. See
 * browser-peer.test.ts for the browser's flags.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect, it, vi } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { track, until } from '../helpers/signal.js';
import { browserPeerPage, browserReport, describeWithChromium, expectLoopbackOnly, jsonLines, relayAndChromium, stopChild, type PeerConn } from '../helpers/browser.js';

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

describeWithChromium('Chromium and rtcprobe peer through rtcprobe mcu serve', () => {
  const env = relayAndChromium();

  it('the browser sends PCMU to the MCU and decodes the mix of rtcprobe\'s stream; rtcprobe gets the mix of the browser\'s', async () => {
    const room = `browser-mcu-${process.pid}`;
    const { page, log } = await browserPeerPage(env.browser);
    let mcu: ChildProcess | undefined;
    let peer: ChildProcess | undefined;
    try {
      mcu = track(spawn(process.execPath, [BIN, 'mcu', 'serve', '--signal', env.relay.ws, '--room', room, '--peer-id', 'mcu', '--listen', '127.0.0.1:0', '--loopback', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
      let mcuErr = '';
      mcu.stderr!.on('data', (d: Buffer) => (mcuErr += d.toString()));
      const mcuOut = jsonLines(mcu);
      const listening = await mcuOut.next((j) => j.event === 'listening', 30_000);
      const health = async () => (await fetch(new URL('/healthz', String(listening.http)))).json() as Promise<{ participants: number; framesMixed: number }>;
      // No probes: the MCU accepts the data channels and leaves them idle.
      await page.evaluate((o) => (window as unknown as { rtcprobePeer: { start(o: unknown): Promise<boolean> } }).rtcprobePeer.start(o), { url: env.relay.ws, room, peerId: 'zz-chromium', rate: 0, size: 200, audioTrack: true, viaServer: true });
      await until(async () => (await health()).participants === 1, 30_000, 'the browser admitted by the MCU');
      // Alone in the room the browser gets the MCU's stream of silence: decoded, and quiet.
      await page.waitForFunction(() => ((window as unknown as { rtcprobeState: { audioIn?: { blocks: number } } }).rtcprobeState.audioIn?.blocks ?? 0) > 25, { timeout: 30_000, polling: 50 });
      const alone = (await browserReport(page)).audioIn!;
      expect(alone.loud).toBe(0);
      peer = track(spawn(process.execPath, [BIN, 'peer', '--signal', env.relay.ws, '--room', room, '--peer-id', 'a-rtcprobe', '--loopback', '--channels', 'audio', '--stats-interval', '500', '--timeout', '30000', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
      let stderr = '';
      peer.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const out = jsonLines(peer);
      const connected = await out.next((j) => j.event === 'peer-connected' || j.event === 'peer-failed', 45_000);
      expect(connected, `${stderr}${mcuErr}`).toMatchObject({ event: 'peer-connected', remote: 'mcu', role: 'offerer' });
      // rtcprobe hears the mix (the browser's tone) and the browser decodes sound from its mix (rtcprobe's stream).
      await out.next((j) => ((j.connections as PeerConn[] | undefined)?.[0]?.audio?.packetsReceived ?? 0) > 50, 30_000);
      await page.waitForFunction(
        () => ((window as unknown as { rtcprobeState: { audioIn?: { loud: number } } }).rtcprobeState.audioIn?.loud ?? 0) > 10,
        { timeout: 30_000, polling: 100 },
      );
      const br = await browserReport(page);
      const code = await stopChild(peer);
      const summary = out.lines.find((j) => j.event === 'summary') as { ok: boolean; connections: PeerConn[] } | undefined;
      const mcuCode = await stopChild(mcu);
      const stopped = mcuOut.lines.find((j) => j.event === 'stopped') as { ok: boolean; participants: { total: number }; framesMixed: number; rtpReceived: number; dropped: Record<string, number> } | undefined;

      expect(code, stderr).toBe(0);
      expect(summary?.ok).toBe(true);
      expect(summary!.connections.find((x) => x.remote === 'mcu')!.audio!.packetsReceived).toBeGreaterThan(50);

      expect(br).toMatchObject({ connected: true, role: 'offerer', remote: 'mcu', server: true, errors: [] });
      const inbound = br.stats.inbound!.find((x) => x.kind === 'audio');
      expect(inbound?.mimeType).toBe('audio/PCMU');
      expect(inbound!.packetsReceived).toBeGreaterThan(50);
      expect(br.stats.outbound!.find((x) => x.kind === 'audio')).toMatchObject({ mimeType: 'audio/PCMU' });
      expect(br.stats.outbound!.find((x) => x.kind === 'audio')!.packetsSent).toBeGreaterThan(50);
      // Decoded by the browser: not silence (rtcprobe's synthetic payload mixes to a loud signal).
      expect(br.audioIn!.maxRms).toBeGreaterThan(0.01);

      expect(mcuCode, mcuErr).toBe(0);
      expect(stopped).toMatchObject({ ok: true, participants: { total: 2 } });
      expect(stopped!.framesMixed).toBeGreaterThan(50);
      // Chromium's PCMU fits the MCU's input checks: 160-byte 20 ms frames, one SSRC, PCMU only, within the rate.
      // (Jitter-buffer outcomes, late/duplicate/overrun, depend on the machine's load and are not asserted.)
      for (const reason of ['malformed', 'payload-type', 'size', 'rate', 'ssrc']) expect(stopped!.dropped[reason] ?? 0, reason).toBe(0);
      expect(log.errors).toEqual([]);
      expect(log.requests).toEqual([]);
    } finally {
      if (peer) await stopChild(peer, 'SIGKILL');
      if (mcu) await stopChild(mcu, 'SIGKILL');
      await page.close().catch(() => {});
    }
  });

  it('Chromium itself reached nothing but this machine (its NetLog)', async () => {
    const net = await env.browser.close();
    expectLoopbackOnly(net);
  });
});
