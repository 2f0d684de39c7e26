/**
 * Forwarding tables for the store tests, built through the real parser so they are exactly what the
 * controller would publish.
 */
import type { ForwardingTable } from '../../shared/model.ts';
import { parseTable } from '../../shared/table-parse.ts';

/** The document of listener `i`: VIP 10.(i/65536).(i/256).(i%256), port 80 + i%7, varied options. */
export function listenerDoc(i: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const vip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
  return {
    service: `ns${i % 13}/svc-${i}`,
    portName: i % 2 === 0 ? 'http' : '',
    vip,
    port: 80 + (i % 7),
    backends: [
      { node: 'node-a', address: '127.0.0.2', nodePort: 30000 + (i % 2000) },
      { node: 'node-b', address: '127.0.0.3', nodePort: 30000 + (i % 2000) },
    ],
    externalTrafficPolicy: i % 3 === 0 ? 'Local' : 'Cluster',
    healthCheckNodePort: i % 3 === 0 ? 32000 + (i % 500) : 0,
    algorithm: i % 5 === 0 ? 'least-connections' : 'round-robin',
    sessionAffinity: i % 11 === 0 ? 'ClientIP' : 'None',
    proxyProtocol: i % 4 === 0 ? 'v2' : 'none',
    loadBalancerSourceRanges: i % 6 === 0 ? ['192.0.2.0/24'] : [],
    maxConnections: i % 9,
    timeouts: { idle: '5m', connect: 1500 },
    ...extra,
  };
}

/** A valid table of listeners `from` .. `from + count - 1`. */
export function makeTable(count: number, from = 0, extra: Record<string, unknown> = {}): ForwardingTable {
  const listeners = [];
  for (let i = from; i < from + count; i++) listeners.push(listenerDoc(i, extra));
  const r = parseTable({ listeners });
  if (!r.ok) throw new Error(`fixture table does not parse: ${JSON.stringify(r.problems[0])}`);
  return r.value;
}

/** The listeners of `t` ordered by listener key, as a subscriber receives them. */
export function sortedListeners(t: ForwardingTable): ForwardingTable['listeners'] {
  const key = (l: ForwardingTable['listeners'][number]): string => `${l.vip}:${l.port}/${l.protocol}`;
  return [...t.listeners].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}
