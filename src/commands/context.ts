import type { GlobalOptions, Io, Progress } from '../output.js';

export interface RunContext {
  io: Io;
  global: GlobalOptions;
  signal: AbortSignal;
  progress: (text: string) => Promise<Progress>;
}
