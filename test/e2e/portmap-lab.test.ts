/**
 * The port-mapping probes against a real miniupnpd (Debian) in the NAT lab's
 * NAT namespace, with only the chosen services enabled.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { PortmapReport } from '../../src/core/portmap/probe.js';
import { LAB, LAB_SCRIPT, labLeftovers, labPids } from '../helpers/netns-lab.js';
import { STUND } from '../helpers/stund-server.js';
import { describeWith } from '../helpers/system.js';
import { why } from '../helpers/cli.js';

const PROBE = fileURLToPath(new URL('../helpers/portmap-probe.mjs', import.meta.url));
const T = 90000;
const GATEWAY = '192.0.2.1';
const ID = `pm${process.pid}`.slice(0, 12);
const CLI_NS = `rpn-${ID}-cli`;
const NAT_NS = `rpn-${ID}-nat`;

const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
/** miniupnpd processes started for this lab (their command line names its state directory). */
const miniupnpdOfLab = () =>
  execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('miniupnpd') && l.includes(`/rtcprobe-nat-lab/${ID}/`))
    .map((l) => Number(l.trim().split(/\s+/)[0]))
    .filter(alive);

function labCmd(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', [LAB_SCRIPT, ...args], { env: { ...process.env, ...env }, timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
function down(): void {
  try {
    execFileSync('bash', [LAB_SCRIPT, 'down', '--id', ID], { stdio: 'ignore', timeout: 30000 });
  } catch {
    /* checked by the leak assertions */
  }
}
process.once('exit', down);

async function up(portmap: string): Promise<void> {
  const r = await labCmd(['up', 'eim-apdf', '--id', ID, '--portmap', portmap]);
  if (r.code !== 0) throw new Error(`lab up --portmap ${portmap} failed: ${r.stderr}`);
}

interface ProbeRun { report?: PortmapReport; error?: { code: string; message: string }; elapsedMs: number }
function probe(timeoutMs: number, opts: { gateway?: string; abortAfterMs?: number } = {}): Promise<ProbeRun> {
  const args = ['netns', 'exec', CLI_NS, process.execPath, PROBE, String(timeoutMs), opts.gateway ?? '-'];
  if (opts.abortAfterMs !== undefined) args.push(String(opts.abortAfterMs));
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: timeoutMs + 20000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`probe failed: ${stderr}`));
      resolve(JSON.parse(stdout) as ProbeRun);
    });
  });
}

describeWith({ commands: ['ip', 'nft', 'turnserver', 'miniupnpd', STUND], root: true }, 'port-mapping probes against miniupnpd in the NAT lab', () => {
  afterAll(() => {
    down();
    expect(labLeftovers(ID)).toEqual([]);
    expect(miniupnpdOfLab()).toEqual([]);
  });

  it('all on: UPnP IGD, NAT-PMP and PCP each answer with the NAT\'s WAN address', async () => {
    await up('upnp,natpmp,pcp');
    const { report } = await probe(3000);
    // No gateway given: the probe found the namespace's default route.
    expect(report!.gateway).toBe(GATEWAY);
    expect(report!.upnp).toMatchObject({ present: true, externalAddress: LAB.natPublicAddress });
    expect(report!.upnp.server).toMatch(/MiniUPnPd\/2\./);
    expect(report!.upnp.error).toBeUndefined();
    expect(report!.natpmp).toEqual({ present: true, resultCode: 0, epoch: expect.any(Number), externalAddress: LAB.natPublicAddress });
    expect(report!.pcp).toEqual({ present: true, version: 2, resultCode: 0, epoch: expect.any(Number), externalAddress: LAB.natPublicAddress });
    // The PCP probe's mapping was granted and deleted again: miniupnpd's NAT chain is empty.
    const log = readFileSync(`/run/rtcprobe-nat-lab/${ID}/miniupnpd.log`, 'latin1');
    expect(log).toMatch(/PCP MAP: added mapping UDP \d+->192\.0\.2\.2:\d+/);
    expect(log).toMatch(/PCP: UDP port \d+ mapping removed/);
    const chain = execFileSync('ip', ['netns', 'exec', NAT_NS, 'nft', 'list', 'chain', 'inet', 'rpnupnp', 'prerouting_miniupnpd'], { encoding: 'utf8' });
    expect(chain).not.toMatch(/dnat/);
  }, T);

  it('UPnP only: NAT-PMP and PCP are absent because the port is closed, and that ends at once', async () => {
    await up('upnp');
    const { report, elapsedMs } = await probe(3000);
    expect(report!.upnp).toMatchObject({ present: true, externalAddress: LAB.natPublicAddress });
    expect(report!.natpmp).toEqual({ present: false, error: 'port closed (ICMP port unreachable)' });
    expect(report!.pcp).toEqual({ present: false, error: 'port closed (ICMP port unreachable)' });
    // UPnP answered and 5351 was refused: nothing had to wait for the timeout.
    expect(elapsedMs).toBeLessThan(3000);
  }, T);

  it('NAT-PMP and PCP only: UPnP is absent after its timeout, no sooner and not much later', async () => {
    await up('natpmp,pcp');
    const { report, elapsedMs } = await probe(1500, { gateway: GATEWAY });
    expect(report!.natpmp).toMatchObject({ present: true, resultCode: 0, externalAddress: LAB.natPublicAddress });
    expect(report!.pcp).toMatchObject({ present: true, version: 2, resultCode: 0, externalAddress: LAB.natPublicAddress });
    expect(report!.upnp).toEqual({ present: false, error: 'no SSDP answer within 1500 ms' });
    expect(elapsedMs).toBeGreaterThanOrEqual(1500);
    expect(elapsedMs).toBeLessThan(1500 + 1500);
  }, T);

  it('none: every service absent, no figure reported', async () => {
    await up('none');
    expect(miniupnpdOfLab()).toEqual([]);
    const { report, elapsedMs } = await probe(1500);
    expect(report).toEqual({
      gateway: GATEWAY,
      upnp: { present: false, error: 'no SSDP answer within 1500 ms' },
      natpmp: { present: false, error: 'port closed (ICMP port unreachable)' },
      pcp: { present: false, error: 'port closed (ICMP port unreachable)' },
    });
    expect(elapsedMs).toBeLessThan(1500 + 1500);
  }, T);

  it('a gateway that drops 5351 silently: NAT-PMP and PCP absent after the timeout', async () => {
    await up('none');
    execFileSync('ip', ['netns', 'exec', NAT_NS, 'nft', '-f', '-'], {
      input: 'table ip pmdrop {\n chain input {\n  type filter hook input priority 0; policy accept;\n  udp dport 5351 drop\n }\n}\n',
    });
    const { report, elapsedMs } = await probe(1200);
    expect(report!.natpmp).toEqual({ present: false, error: 'no answer within 1200 ms' });
    expect(report!.pcp).toEqual({ present: false, error: 'no answer within 1200 ms' });
    expect(elapsedMs).toBeGreaterThanOrEqual(1200);
    expect(elapsedMs).toBeLessThan(1200 + 1500);
  }, T);

  it('an abort ends the probe at once with ABORTED', async () => {
    await up('none');
    const r = await probe(10000, { abortAfterMs: 300 });
    expect(r.report).toBeUndefined();
    expect(r.error?.code).toBe('ABORTED');
    expect(r.elapsedMs).toBeLessThan(2000);
  }, T);

  describe('the lab cleans miniupnpd up', () => {
    it('down stops miniupnpd and removes the namespaces', async () => {
      await up('upnp,natpmp,pcp');
      const pids = labPids(ID);
      expect(miniupnpdOfLab().length).toBe(1);
      const r = await labCmd(['down', '--id', ID]);
      expect(r.code, why(r)).toBe(0);
      expect(labLeftovers(ID)).toEqual([]);
      expect(miniupnpdOfLab()).toEqual([]);
      expect(pids.filter(alive)).toEqual([]);
    }, T);

    it('a miniupnpd that fails to start leaves nothing behind', async () => {
      const r = await labCmd(['up', 'eim-apdf', '--id', ID, '--portmap', 'upnp'], { MINIUPNPD: '/bin/false' });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/miniupnpd did not start/);
      expect(labLeftovers(ID)).toEqual([]);
    }, T);

    it('NAT-PMP without PCP is refused before anything is built (miniupnpd serves both on one switch)', async () => {
      const r = await labCmd(['up', 'eim-apdf', '--id', ID, '--portmap', 'natpmp']);
      expect(r.code, why(r)).toBe(2);
      expect(r.stderr).toMatch(/NAT-PMP and PCP together/);
      expect(labLeftovers(ID)).toEqual([]);
    }, T);
  });
});
