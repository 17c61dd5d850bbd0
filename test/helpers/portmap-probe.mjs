// Runs the built port-mapping probe (dist/) once and prints its report as JSON.
// Used by the lab tests inside the client namespace:
//   node portmap-probe.mjs <timeoutMs> [gateway|-] [abortAfterMs]
const { probePortmap } = await import(new URL('../../dist/core/portmap/probe.js', import.meta.url).href);
const timeoutMs = Number(process.argv[2] ?? 2000);
const gateway = process.argv[3] && process.argv[3] !== '-' ? process.argv[3] : undefined;
const abortAfter = process.argv[4] ? Number(process.argv[4]) : undefined;
const ac = new AbortController();
if (abortAfter !== undefined) setTimeout(() => ac.abort(), abortAfter);
const started = Date.now();
try {
  const report = await probePortmap({ timeoutMs, gateway, signal: ac.signal });
  process.stdout.write(JSON.stringify({ report, elapsedMs: Date.now() - started }) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ error: { code: err.code, message: err.message }, elapsedMs: Date.now() - started }) + '\n');
}
