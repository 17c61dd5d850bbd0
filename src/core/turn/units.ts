/** "12.5 Mbit/s", "640 kbit/s". */
export function formatBps(bps: number): string {
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e8 ? 0 : 1)} Mbit/s`;
  return `${Math.round(bps / 1000)} kbit/s`;
}
