/**
 * What the health checker probes and how the data plane asks about it. One probe target exists per
 * distinct (check, node address, port) however many listeners share it; a listener's backend maps to
 * its target by `healthTargetKey`.
 */
import type { Backend, HealthCheck, HealthTiming, Listener } from '../../shared/model.ts';

/** One thing to probe: an HTTP endpoint or a TCP port on a node. */
export interface HealthTarget {
  /** Stable identity, from `healthTargetKey`. */
  readonly key: string;
  readonly node: string;
  readonly address: string;
  /** The port probed: the HTTP health port, or the NodePort for TCP checks. */
  readonly port: number;
  readonly check: HealthCheck;
  readonly timing: HealthTiming;
}

/** Health of a target as the data plane sees it. `unknown` (not probed yet) is treated as eligible. */
export type HealthState = 'unknown' | 'healthy' | 'unhealthy';

/** The key of the probe target that decides whether `backend` of `listener` gets traffic. */
export function healthTargetKey(check: HealthCheck, backend: Backend): string {
  const host = backend.address.includes(':') ? `[${backend.address}]` : backend.address;
  return check.type === 'http'
    ? `http://${host}:${check.port}${check.path}`
    : `tcp://${host}:${backend.nodePort}`;
}

/**
 * The distinct probe targets of a table. Where listeners share a target with different timings,
 * the first listener's timing wins (timings come from one `defaults` block in practice).
 */
export function healthTargets(listeners: readonly Listener[]): HealthTarget[] {
  const byKey = new Map<string, HealthTarget>();
  for (const l of listeners) {
    for (const b of l.backends) {
      const key = healthTargetKey(l.healthCheck, b);
      if (byKey.has(key)) continue;
      byKey.set(key, {
        key,
        node: b.node,
        address: b.address,
        port: l.healthCheck.type === 'http' ? l.healthCheck.port : b.nodePort,
        check: l.healthCheck,
        timing: l.healthTiming,
      });
    }
  }
  return [...byKey.values()];
}

/** Change of one target's state, as broadcast to workers. */
export interface HealthChange {
  readonly key: string;
  readonly state: HealthState;
}

/**
 * The health checker's interface to the rest of the speaker. It runs once per speaker (main thread);
 * workers receive `HealthChange`s and rebuild their pickers.
 */
export interface HealthSource {
  /** Replace the set of probed targets: new ones start probing, removed ones stop. */
  setTargets(targets: readonly HealthTarget[]): void;
  /** Current state of a target; `unknown` for a key not (yet) probed. */
  state(key: string): HealthState;
  /** Snapshot of every target's state. */
  snapshot(): ReadonlyMap<string, HealthState>;
  /**
   * Passive health: a data-plane connect to a backend of this target failed. The target is marked
   * unhealthy at once (it must then rise again through active probes).
   */
  reportConnectFailure(key: string): void;
  /** Called on every state change. */
  onChange(listener: (change: HealthChange) => void): void;
  /** Stop every probe and timer. */
  close(): void;
}
