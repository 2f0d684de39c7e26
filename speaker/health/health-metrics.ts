/**
 * Prometheus metrics of the health checker. Labels are bounded: probe type and result for the probe
 * series, and one `switchyard_backend_healthy` series per probe target (not per listener or VIP),
 * removed when the target is.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { HealthCheck } from '../../shared/model.ts';
import type { HealthState } from './health-target.ts';
import type { ProbeResult } from './probe-outcome.ts';

/** Gauge value per state: 1 healthy, 0 unhealthy, -1 unknown (not probed yet). */
export const HEALTH_GAUGE_VALUE: Readonly<Record<HealthState, number>> = {
  healthy: 1,
  unhealthy: 0,
  unknown: -1,
};

/** Probe durations span sub-millisecond loopback answers up to multi-second timeouts. */
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The checker's metric series on one registry; every method is a no-op without a registry. */
export class HealthMetrics {
  readonly #duration: Histogram<'type' | 'result'> | undefined;
  readonly #total: Counter<'type' | 'result'> | undefined;
  readonly #healthy: Gauge<'node' | 'target'> | undefined;

  constructor(registry: Registry | undefined) {
    if (!registry) return;
    this.#duration = new Histogram({
      name: 'switchyard_health_check_duration_seconds',
      help: 'Duration of active health probes, by probe type (http, tcp) and result.',
      labelNames: ['type', 'result'],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    this.#total = new Counter({
      name: 'switchyard_health_checks_total',
      help: 'Active health probes run, by probe type (http, tcp) and result (success, failure, timeout, error, local: not started for want of descriptors, ports or memory).',
      labelNames: ['type', 'result'],
      registers: [registry],
    });
    this.#healthy = new Gauge({
      name: 'switchyard_backend_healthy',
      help: 'Health of each probe target: 1 healthy, 0 unhealthy, -1 unknown (not probed yet).',
      labelNames: ['node', 'target'],
      registers: [registry],
    });
  }

  /** Record one finished probe. */
  probed(type: HealthCheck['type'], result: ProbeResult, seconds: number): void {
    this.#duration?.observe({ type, result }, seconds);
    this.#total?.inc({ type, result });
  }

  /** Set the state series of one target. */
  setState(node: string, target: string, state: HealthState): void {
    this.#healthy?.set({ node, target }, HEALTH_GAUGE_VALUE[state]);
  }

  /** Drop the state series of a target that is no longer probed. */
  removeTarget(node: string, target: string): void {
    this.#healthy?.remove({ node, target });
  }
}
