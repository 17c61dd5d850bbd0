import type { GlobalOptions, Io, Progress } from '../output.js';

export interface RunContext {
  io: Io;
  global: GlobalOptions;
  signal: AbortSignal;
  progress: (text: string) => Promise<Progress>;
  /**
   * A long-running command tells what it could still report if a second
   * signal cuts its clean stop short: a plain JSON object (numbers, strings,
   * nested objects), printed as a partial summary. The last one given counts.
   */
  onForcedStop?: (partial: () => Record<string, unknown>) => void;
}
