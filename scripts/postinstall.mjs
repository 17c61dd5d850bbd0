// npm postinstall: applies the werift patches in patches/ with patch-package
// (see docs/rtc.md, "Carried werift patches").
//
// It succeeds without doing anything when
// - patch-package is not installed: an install without devDependencies
//   (`npm ci --omit=dev`) must not fail because of a dev tool;
// - rtcprobe is installed as a dependency of another project: npm then runs
//   this inside node_modules/rtcprobe, where werift usually is not (npm hoists
//   it), and patch-package only patches the root project's node_modules.
// rtcprobe does not depend on the patches to work: its pacer keeps werift's
// data-channel queue short, and bin/ ends a worker that a leftover werift timer
// keeps alive. The patches make raw werift fast under bursts and let a process
// end by itself.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
if (root.split(sep).includes('node_modules')) process.exit(0);
let bin;
try {
  bin = join(dirname(createRequire(join(root, 'package.json')).resolve('patch-package/package.json')), 'index.js');
} catch {
  process.exit(0);
}
const r = spawnSync(process.execPath, [bin], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
