/**
 * The forwarding table: everything the speaker's data plane needs to serve a VIP listener.
 * The controller compiles it; speakers read it from a file or the store and never look anything
 * else up on the connection path. Objects of these types are treated as immutable once parsed.
 */

/** Load-balancing algorithm for picking a backend node per new connection. */
export type Algorithm = 'round-robin' | 'least-connections' | 'source-hash';

/** Kubernetes `spec.externalTrafficPolicy`. */
export type TrafficPolicy = 'Cluster' | 'Local';

/** Kubernetes `spec.sessionAffinity`; `ClientIP` forces source-hash picking. */
export type SessionAffinity = 'None' | 'ClientIP';

/** PROXY-protocol header sent to the backend at the start of each connection. */
export type ProxyProtocol = 'none' | 'v1' | 'v2';

/** How a backend node's health is probed. */
export type HealthCheck =
  /** HTTP GET on `port`/`path` of the node address; healthy on status 200. */
  | { readonly type: 'http'; readonly port: number; readonly path: string }
  /** Plain TCP connect to the backend's NodePort. */
  | { readonly type: 'tcp' };

/** One node that can take a listener's traffic on its NodePort. */
export interface Backend {
  /** Kubernetes node name. */
  readonly node: string;
  /** The node's InternalIP (IPv4 or IPv6). */
  readonly address: string;
  /** The Service's NodePort for this listener's port. */
  readonly nodePort: number;
}

/** Timeouts of one listener, in milliseconds. */
export interface ListenerTimeouts {
  /** Time allowed for a TCP connect to a backend before trying another. */
  readonly connectMs: number;
  /** A connection with no bytes either way for this long is closed. */
  readonly idleMs: number;
  /** After one side sent FIN, the other side has this long to finish. */
  readonly halfClosedMs: number;
  /** When the listener is removed or the speaker stops, open connections get this long to finish. */
  readonly drainMs: number;
}

/** Probe timing for the listener's health checks. */
export interface HealthTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive successes that make an unhealthy backend healthy again. */
  readonly rise: number;
  /** Consecutive failures that make a healthy backend unhealthy. */
  readonly fall: number;
}

/** One VIP:port/TCP listener and everything needed to serve it. */
export interface Listener {
  /** `namespace/name` of the Service this listener belongs to. */
  readonly service: string;
  /** Name of the Service port (may be empty). */
  readonly portName: string;
  /** The external IP, canonical text form. */
  readonly vip: string;
  readonly port: number;
  readonly protocol: 'TCP';
  readonly backends: readonly Backend[];
  readonly trafficPolicy: TrafficPolicy;
  /** The Service's healthCheckNodePort (Local only), 0 when none. */
  readonly healthCheckNodePort: number;
  readonly healthCheck: HealthCheck;
  readonly healthTiming: HealthTiming;
  readonly algorithm: Algorithm;
  readonly sessionAffinity: SessionAffinity;
  readonly proxyProtocol: ProxyProtocol;
  /** `loadBalancerSourceRanges` as canonical CIDRs; empty means every client is allowed. */
  readonly sourceRanges: readonly string[];
  /** Most concurrent connections on this listener (per speaker); 0 is unlimited. */
  readonly maxConnections: number;
  /** Connect attempts per client connection, each on a different backend where possible. */
  readonly connectAttempts: number;
  readonly timeouts: ListenerTimeouts;
}

/** The whole table a speaker serves. `version` increases with every publish. */
export interface ForwardingTable {
  readonly version: number;
  readonly listeners: readonly Listener[];
}

/** Stable identity of a listener: `vip:port/TCP`, IPv6 VIPs in brackets. */
export function listenerKey(l: Pick<Listener, 'vip' | 'port' | 'protocol'>): string {
  const host = l.vip.includes(':') ? `[${l.vip}]` : l.vip;
  return `${host}:${l.port}/${l.protocol}`;
}
