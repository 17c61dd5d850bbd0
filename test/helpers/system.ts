import { execFileSync } from 'node:child_process';
import { describe } from 'vitest';

export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * describe() for tests that need system tools (and maybe root). On a
 * developer machine without them the suite is skipped with the reason in its
 * title; under CI=true a missing requirement fails the suite instead.
 */
export function describeWith(req: { commands?: string[]; root?: boolean }, name: string, fn: () => void): void {
  const missing = (req.commands ?? []).filter((c) => !hasCommand(c));
  if (req.root && !isRoot()) missing.push('root');
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const reason = `needs ${missing.join(', ')} (npm test installs them when run as root)`;
  if (IN_CI) {
    describe(name, () => {
      // Under CI a missing requirement is a failure, never a silent skip.
      throw new Error(`${name}: ${reason}`);
    });
  } else {
    describe.skip(`${name} [skipped: ${reason}]`, fn);
  }
}
