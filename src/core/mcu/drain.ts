/**
 * Standing-latency trim for a jitter buffer. Pure.
 *
 * A jitter buffer plays one frame per tick and receives one per frame period,
 * so frames that pile up once (a sender that stalled and then sent several
 * frames at once, a burst after a network hiccup) stay: every later frame
 * waits behind them. This policy watches the number of frames still waiting
 * after each tick; when it has stayed above `target` for `after` ticks in a
 * row, it says to drop one frame, and starts counting again. In steady state
 * the buffer holds depth − 1 frames after a tick, so a target of `depth`
 * leaves normal jitter alone and only trims a lasting excess.
 */
export class LatencyTrim {
  private run = 0;
  /** Frames the policy asked to drop. */
  trimmed = 0;

  constructor(
    readonly target: number,
    readonly after = 50,
  ) {}

  /** Call after each tick with the frames still waiting; true: drop one frame now. */
  afterTick(waiting: number): boolean {
    if (waiting <= this.target) {
      this.run = 0;
      return false;
    }
    if (++this.run < this.after) return false;
    this.run = 0;
    this.trimmed++;
    return true;
  }
}
