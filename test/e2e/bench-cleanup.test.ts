// The benchmarks end by themselves and remove what they started, also on SIGINT.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { labPids } from '../helpers/netns-lab.js';
import { STUND } from '../helpers/stund-server.js';
import { describeWith } from '../helpers/system.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const started: ChildProcess[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Start a bench; resolves `started` with coturn's pid and temp dir once it reports them. */
function startBench(script: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stderr!.on('data', (d) => { stderr += d; for (const w of waiters.splice(0)) w(); });
  child.stdout!.resume();
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  /** Resolves when stderr matches re (an event, not a sleep). */
  const waitFor = (re: RegExp) => new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const m = re.exec(stderr);
      if (m) resolve(m);
      else if (child.exitCode !== null) reject(new Error(`bench exited (${child.exitCode}) before ${re}: ${stderr}`));
      else waiters.push(check);
    };
    check();
    child.once('exit', check);
  });
  return { child, exit, waitFor };
}

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describeWith({ commands: ['turnserver', 'turnutils_stunclient'] }, 'bench:stun clean-up', () => {
  it('ends by itself with exit code 0, and its coturn and temp dir are gone', async () => {
    const b = startBench('bench/stun/run.mjs', { BENCH_RUNS: '1' });
    const m = await b.waitFor(/started coturn pid (\d+) on port \d+, temp dir (\S+)/);
    expect(alive(Number(m[1]))).toBe(true);
    expect(await b.exit).toBe(0);
    expect(alive(Number(m[1]))).toBe(false);
    expect(existsSync(m[2]!)).toBe(false);
  }, 60_000);

  it('SIGINT in the middle of the rounds: exit 130, coturn and temp dir gone', async () => {
    const b = startBench('bench/stun/run.mjs', { BENCH_RUNS: '50' });
    const m = await b.waitFor(/started coturn pid (\d+) on port \d+, temp dir (\S+)/);
    await b.waitFor(/round 2\/50/);
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(130);
    expect(alive(Number(m[1]))).toBe(false);
    expect(existsSync(m[2]!)).toBe(false);
  }, 60_000);
});

describeWith({ commands: ['turnserver', 'turnutils_uclient'] }, 'bench:turn clean-up', () => {
  it('SIGTERM once coturn is up: exit 143, coturn and temp dir gone', async () => {
    const b = startBench('bench/turn/run.mjs', { BENCH_RUNS: '1' });
    const m = await b.waitFor(/started coturn pid (\d+) on port \d+, temp dir (\S+)/);
    b.child.kill('SIGTERM');
    expect(await b.exit).toBe(143);
    expect(alive(Number(m[1]))).toBe(false);
    expect(existsSync(m[2]!)).toBe(false);
  }, 60_000);
});

describeWith({ commands: ['turnserver', 'openssl'] }, 'bench:turn-rtt clean-up', () => {
  it('SIGINT after a round: exit 130, coturn, the workers and the temp dir gone', async () => {
    const b = startBench('bench/turn/relay-rtt.mjs', { BENCH_RUNS: '50', BENCH_COUNT: '20' });
    const m = await b.waitFor(/started coturn pid (\d+) on port \d+ \(TLS \d+\), temp dir (\S+)/);
    await b.waitFor(/round 1\/50 done/);
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(130);
    expect(alive(Number(m[1]))).toBe(false);
    expect(existsSync(m[2]!)).toBe(false);
    // No worker (a process running relay-rtt-worker.mjs) is left behind.
    const workers = execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.includes('relay-rtt-worker.mjs'));
    expect(workers).toEqual([]);
  }, 120_000);
});

describeWith({ commands: ['turnserver'] }, 'bench:check clean-up', () => {
  it('SIGINT after a round: exit 130, coturn and temp dir gone', async () => {
    const b = startBench('bench/check/run.mjs', { BENCH_RUNS: '50' });
    const m = await b.waitFor(/started coturn pid (\d+) on port \d+, temp dir (\S+)/);
    await b.waitFor(/round 1\/50 done/);
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(130);
    expect(alive(Number(m[1]))).toBe(false);
    expect(existsSync(m[2]!)).toBe(false);
  }, 120_000);
});

/** Polls (no exit event exists for a process that is not our child) until pid is gone, up to ms. */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

/** Names of the network namespaces (first word of each line of `ip netns list`). */
function namespaces(): string[] {
  return execFileSync('ip', ['netns', 'list']).toString().split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

describeWith({ commands: ['janus', 'ip'], root: true }, 'bench:sfu-mcu Janus section clean-up', () => {
  it('SIGINT while rtcprobe\'s SFU runs next to Janus: exit 130, Janus, the SFU and the namespace gone', async () => {
    const b = startBench('bench/sfu-mcu/run.mjs', { SECTIONS: 'janus', ROUNDS: '3', JANUS_SECONDS: '3' });
    const j = await b.waitFor(/janus side: Janus pid (\d+), namespace (\S+)/);
    const s = await b.waitFor(/janus side: rtcprobe sfu serve pid (\d+)/);
    expect(alive(Number(j[1]))).toBe(true);
    expect(alive(Number(s[1]))).toBe(true);
    expect(namespaces()).toContain(j[2]!);
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(130);
    expect(alive(Number(j[1]))).toBe(false);
    expect(alive(Number(s[1]))).toBe(false);
    expect(namespaces()).not.toContain(j[2]!);
  }, 120_000);
});

describeWith({ commands: ['turnserver', 'ip', 'nft', STUND], root: true }, 'bench:check LAB=1 clean-up', () => {
  it('SIGINT after a round in the NAT lab: exit 130, both coturns, stund, the namespaces and the temp dir gone', async () => {
    const b = startBench('bench/check/run.mjs', { BENCH_RUNS: '50', LAB: '1' });
    const lab = (await b.waitFor(/NAT lab (\S+) up/))[1]!;
    const m = await b.waitFor(/started coturn pid (\d+) in \S+ on \S+, temp dir (\S+)/);
    await b.waitFor(/round 1\/50 done/);
    const servers = labPids(lab);
    expect(servers.length).toBeGreaterThan(0);
    expect(namespaces().filter((n) => n.startsWith(`rpn-${lab}-`)).sort()).toEqual([`rpn-${lab}-cli`, `rpn-${lab}-nat`, `rpn-${lab}-pub`]);
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(130);
    expect(alive(Number(m[1]))).toBe(false);
    // The lab's servers were started by its script, not by the bench: the kernel may take a moment to reap them.
    for (const pid of servers) expect(await goneWithin(pid, 5000), `lab server ${pid}`).toBe(true);
    expect(existsSync(m[2]!)).toBe(false);
    expect(namespaces().filter((n) => n.startsWith(`rpn-${lab}-`))).toEqual([]);
  }, 180_000);
});
