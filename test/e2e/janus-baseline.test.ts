// The Janus baseline (bench/lib/janus.mjs) runs: Janus in its own namespace, a werift publisher and
// subscriber through the VideoRoom, two PCMU participants in the AudioBridge, and nothing is left
// behind, also after SIGINT.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { describeWith } from '../helpers/system.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../../bench/lib/janus.mjs', import.meta.url));
const started: ChildProcess[] = [];

afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, [SCRIPT], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer) => { out += d.toString(); for (const w of waiters.splice(0)) w(); };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? -1 : null))));
  const waitFor = (re: RegExp) => new Promise<void>((resolve, reject) => {
    const check = () => {
      if (re.test(out)) resolve();
      else if (child.exitCode !== null) reject(new Error(`exited before ${re}: ${out}`));
      else waiters.push(check);
    };
    check();
    child.once('exit', check);
  });
  return { child, exit, waitFor, out: () => out };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const namespaceOf = (pid: number) => `rjan${String(pid).slice(-7)}`;
const namespaces = () => execFileSync('ip', ['netns', 'list']).toString();
const links = () => execFileSync('ip', ['-o', 'link']).toString();

describeWith({ commands: ['janus', 'ip'], root: true }, 'Janus baseline', () => {
  it('measures the VideoRoom hop and the AudioBridge against their direct baselines, then removes its namespace', async () => {
    const b = run({ ROUNDS: '1', SECONDS: '1', SUBSCRIBERS: '1' });
    const code = await b.exit;
    const out = b.out();
    expect(code, out).toBe(0);
    const hop = /VideoRoom hop \(1 subscribers\): OWD p50 ([\d.]+) .* direct ([\d.]+) .* lost (\d+)\/(\d+)/.exec(out);
    expect(hop, out).not.toBeNull();
    expect(Number(hop![1])).toBeGreaterThan(0);
    expect(Number(hop![2])).toBeGreaterThan(0);
    expect(Number(hop![4])).toBeGreaterThan(0);
    // Loss tolerance: none expected between local namespaces, a few packets allowed on a loaded machine.
    expect(Number(hop![3])).toBeLessThanOrEqual(Number(hop![4]) * 0.05);
    const mix = /AudioBridge PCMU: tone onset p50 ([\d.]+) .* mix ([\d.]+) pkt\/s/.exec(out);
    expect(mix, out).not.toBeNull();
    expect(Number(mix![1])).toBeGreaterThan(0);
    expect(Number(mix![2])).toBeGreaterThan(40); // 50 per second at 20 ms
    expect(namespaces()).not.toContain(namespaceOf(b.child.pid!));
    expect(links()).not.toContain(`vj${String(b.child.pid!).slice(-7)}a`);
  }, 120_000);

  it('SIGINT stops Janus and removes the namespace', async () => {
    const b = run({ ROUNDS: '3', SECONDS: '5' });
    await b.waitFor(/^Janus .* at http.*\(pid \d+/m);
    const janusPid = Number(/\(pid (\d+)/.exec(b.out())![1]);
    expect(alive(janusPid)).toBe(true);
    expect(namespaces()).toContain(namespaceOf(b.child.pid!));
    b.child.kill('SIGINT');
    expect(await b.exit).toBe(130);
    expect(namespaces()).not.toContain(namespaceOf(b.child.pid!));
    expect(alive(janusPid)).toBe(false);
  }, 60_000);
});
