// The relay's Prometheus registry and the counters it exposes as plain numbers.
import type { Bus } from './bus.js';
import { MetricsRegistry } from './metrics.js';
import type { RoomRegistry } from './rooms.js';
import type { Conn, RelayCounters } from './relay-types.js';

/** The relay's Prometheus metrics; `counters` is the same figures as plain numbers. */
export function relayMetrics(relay: { readonly instanceId: string; readonly bus: Bus }, rooms: RoomRegistry<Conn>, conns: Set<Conn>) {
  const reg = new MetricsRegistry({ instance_id: relay.instanceId });
  reg.gauge('rtcprobe_signal_connections', 'Open WebSocket connections.', () => conns.size);
  const connectionsTotal = reg.counter('rtcprobe_signal_connections_total', 'WebSocket connections accepted.');
  reg.gauge('rtcprobe_signal_rooms', 'Rooms with at least one peer on this instance.', () => rooms.size);
  reg.gauge('rtcprobe_signal_peers', 'Joined peers on this instance.', () => rooms.localPeers());
  const received = reg.labelledCounter('rtcprobe_signal_messages_received_total', 'Valid client messages, by type.', 'type');
  const relayed = reg.labelledCounter('rtcprobe_signal_messages_relayed_total', 'Messages delivered to a peer on this instance, by type.', 'type');
  const errors = reg.labelledCounter('rtcprobe_signal_errors_total', 'Error answers and refused inputs, by wire code.', 'code');
  const closes = reg.labelledCounter('rtcprobe_signal_closes_total', 'Connections closed by the relay, by WebSocket close code.', 'code');
  const dead = reg.counter('rtcprobe_signal_dead_terminated_total', 'Connections terminated for missing heartbeats.');
  reg.counterOf('rtcprobe_signal_bus_published_total', 'Events published to other instances.', () => relay.bus.stats().published);
  reg.counterOf('rtcprobe_signal_bus_received_total', 'Events received from other instances.', () => relay.bus.stats().received);
  reg.counterOf('rtcprobe_signal_bus_malformed_total', 'Presence records and events read back from the bus that did not validate (skipped).', () => relay.bus.stats().malformed);
  const counters: RelayCounters = {
    get connectionsTotal() { return connectionsTotal.value; },
    received: received.values,
    relayed: relayed.values,
    errors: errors.values,
    closes: closes.values,
    get terminatedDead() { return dead.value; },
  };
  return { reg, connectionsTotal, received, relayed, errors, closes, dead, counters };
}

export type RelayMetrics = ReturnType<typeof relayMetrics>;
