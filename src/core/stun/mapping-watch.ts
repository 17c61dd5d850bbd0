import { sameEndpoint as same, type TransportAddress } from '../address.js';

/** What one server said in one round of a watch. */
export interface WatchObservation {
  /** Identifies the server and family, e.g. `stun.example.org|4`. */
  key: string;
  server: string;
  family: 4 | 6;
  /** null when the server did not answer this round. */
  mapped: TransportAddress | null;
  /** The local port the request went out from (the NAT maps this port). */
  localPort: number | null;
}

export interface MappingChange {
  server: string;
  family: 4 | 6;
  /** Epoch ms of the round that saw the new mapping. */
  at: number;
  /** Epoch ms of the last round that still saw the old one: the change happened in between. */
  previousAt: number;
  round: number;
  from: TransportAddress;
  to: TransportAddress;
  /**
   * `address`: the public IP changed. `port`: same IP, another port, from the
   * same local port (the NAT re-mapped). `local-port`: only the port, but we
   * sent from another local port this time (not the NAT's doing).
   */
  kind: 'address' | 'port' | 'local-port';
}

export interface WatchServerSummary {
  server: string;
  family: 4 | 6;
  rounds: number;
  answered: number;
  /** Distinct mappings seen, in order of first appearance. */
  mappings: TransportAddress[];
  changes: MappingChange[];
  /** No NAT change seen over at least two answered rounds; null with fewer than two. */
  stable: boolean | null;
  firstAnswerAt: number | null;
  lastAnswerAt: number | null;
}

interface State {
  summary: WatchServerSummary;
  last?: TransportAddress;
  lastAt?: number;
  lastLocalPort?: number | null;
}

/**
 * Follows each server's mapped address from round to round. Pure: the caller
 * passes the time of each round.
 */
export class MappingTracker {
  private readonly states = new Map<string, State>();
  private roundCount = 0;

  get rounds(): number {
    return this.roundCount;
  }

  /** Record one round; returns the changes it revealed. */
  observeRound(now: number, observations: readonly WatchObservation[]): MappingChange[] {
    this.roundCount++;
    const changes: MappingChange[] = [];
    for (const o of observations) {
      let st = this.states.get(o.key);
      if (!st) {
        st = { summary: { server: o.server, family: o.family, rounds: 0, answered: 0, mappings: [], changes: [], stable: null, firstAnswerAt: null, lastAnswerAt: null } };
        this.states.set(o.key, st);
      }
      const s = st.summary;
      s.rounds++;
      if (!o.mapped) continue;
      s.answered++;
      s.firstAnswerAt ??= now;
      s.lastAnswerAt = now;
      if (!s.mappings.some((m) => same(m, o.mapped!))) s.mappings.push(o.mapped);
      if (st.last && !same(st.last, o.mapped)) {
        const kind = st.last.address !== o.mapped.address ? 'address' : st.lastLocalPort === o.localPort ? 'port' : 'local-port';
        const change: MappingChange = { server: o.server, family: o.family, at: now, previousAt: st.lastAt!, round: this.roundCount, from: st.last, to: o.mapped, kind };
        s.changes.push(change);
        changes.push(change);
      }
      st.last = o.mapped;
      st.lastAt = now;
      st.lastLocalPort = o.localPort;
      s.stable = s.answered < 2 ? null : !s.changes.some((c) => c.kind !== 'local-port');
    }
    return changes;
  }

  summaries(): WatchServerSummary[] {
    return [...this.states.values()].map((s) => s.summary);
  }
}
