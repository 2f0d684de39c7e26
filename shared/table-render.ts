/**
 * The model turned back into the table document that table-parse.ts reads (docs/table-format.md),
 * with every field written out so nothing depends on the reader's defaults: the store keeps
 * listeners in this form, and `parseTable(renderTable(t))` gives `t` back.
 */
import type { ForwardingTable, Listener } from './model.ts';

/** One listener as written in a table document. */
export interface ListenerDocument {
  readonly service: string;
  readonly portName: string;
  readonly vip: string;
  readonly port: number;
  readonly protocol: 'TCP';
  readonly backends: readonly {
    readonly node: string;
    readonly address: string;
    readonly nodePort: number;
  }[];
  readonly externalTrafficPolicy: string;
  readonly healthCheckNodePort: number;
  readonly healthCheck: Readonly<Record<string, string | number>>;
  readonly algorithm: string;
  readonly sessionAffinity: string;
  readonly proxyProtocol: string;
  readonly loadBalancerSourceRanges: readonly string[];
  readonly maxConnections: number;
  readonly connectAttempts: number;
  readonly timeouts: {
    readonly connect: number;
    readonly idle: number;
    readonly halfClosed: number;
    readonly drain: number;
  };
}

/** A whole table document; durations are in milliseconds. */
export interface TableDocument {
  readonly version: number;
  readonly listeners: readonly ListenerDocument[];
}

/** One listener in the table-file format, every field explicit so no reader default can drift. */
export function renderListener(l: Listener): ListenerDocument {
  const timing = {
    interval: l.healthTiming.intervalMs,
    timeout: l.healthTiming.timeoutMs,
    rise: l.healthTiming.rise,
    fall: l.healthTiming.fall,
  };
  return {
    service: l.service,
    portName: l.portName,
    vip: l.vip,
    port: l.port,
    protocol: l.protocol,
    backends: l.backends.map((b) => ({ node: b.node, address: b.address, nodePort: b.nodePort })),
    externalTrafficPolicy: l.trafficPolicy,
    healthCheckNodePort: l.healthCheckNodePort,
    healthCheck:
      l.healthCheck.type === 'http'
        ? { type: 'http', port: l.healthCheck.port, path: l.healthCheck.path, ...timing }
        : { type: 'tcp', ...timing },
    algorithm: l.algorithm,
    sessionAffinity: l.sessionAffinity,
    proxyProtocol: l.proxyProtocol,
    loadBalancerSourceRanges: [...l.sourceRanges],
    maxConnections: l.maxConnections,
    connectAttempts: l.connectAttempts,
    timeouts: {
      connect: l.timeouts.connectMs,
      idle: l.timeouts.idleMs,
      halfClosed: l.timeouts.halfClosedMs,
      drain: l.timeouts.drainMs,
    },
  };
}

/** Render a table as a plain document, ready for JSON or YAML. */
export function renderTable(table: ForwardingTable): TableDocument {
  return { version: table.version, listeners: table.listeners.map(renderListener) };
}
