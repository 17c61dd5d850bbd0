import type { EventWriter, GlobalOptions, Progress } from '../output.js';
import type { OptionSource } from './options.js';

/**
 * What a running command gets from the CLI. A command never writes to
 * stdout or stderr itself: its result is the CommandOutcome it returns,
 * what happens meanwhile goes through `events`, a warning through `warn`,
 * a spinner through `progress`.
 */
export interface RunContext<K extends string = string> {
  /** The environment (for variables that are not an option's `env`). */
  env: Record<string, string | undefined>;
  global: GlobalOptions;
  /** Aborted on the first SIGINT/SIGTERM: stop cleanly and report what is known. */
  signal: AbortSignal;
  /** Events of a long-running command: JSON Lines under --json, human lines otherwise. */
  events: EventWriter;
  /** One "warning: ..." line on stderr, with or without --json. */
  warn: (text: string) => void;
  /** A spinner on stderr, only on a terminal of known width (see spinnerAllowed); otherwise it does nothing. */
  progress: (text: string) => Promise<Progress>;
  /** Where an option's value came from: the command line, its environment variable or its default. */
  source(key: K): OptionSource | undefined;
  /**
   * A long-running command tells what it could still report if a second
   * signal cuts its clean stop short: a plain JSON object (numbers, strings,
   * nested objects), printed as a partial summary. The last one given counts.
   */
  onForcedStop: (partial: () => Record<string, unknown>) => void;
}
