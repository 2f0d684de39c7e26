/**
 * The controller's Prometheus metrics, read from the last reconcile pass at scrape time: pool
 * usage per family, Services with and without an IP, listeners published, passes run, and store
 * writes refused because another controller holds a newer term.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StoreRefusal } from './controller-loop.ts';
import type { PassResult } from './reconcile.ts';

/** Metrics of one controller process. */
export class ControllerMetrics {
  private last: PassResult | undefined;
  private readonly passes: Counter<'result'>;
  private readonly refused: Counter<'reason'>;

  constructor(registry: Registry) {
    const metrics = this;
    new Gauge({
      name: 'switchyard_pool_addresses',
      help: 'Addresses of each IPAddressPool by family and state (assigned or available)',
      labelNames: ['pool', 'family', 'state'],
      registers: [registry],
      collect() {
        this.reset();
        for (const p of metrics.last?.plan.pools ?? []) {
          this.set({ pool: p.name, family: 'IPv4', state: 'assigned' }, p.assignedIPv4);
          this.set({ pool: p.name, family: 'IPv4', state: 'available' }, p.availableIPv4);
          this.set({ pool: p.name, family: 'IPv6', state: 'assigned' }, p.assignedIPv6);
          this.set({ pool: p.name, family: 'IPv6', state: 'available' }, p.availableIPv6);
        }
      },
    });
    new Gauge({
      name: 'switchyard_services',
      help: 'LoadBalancer Services served by this controller, by whether they have an IP',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const services = metrics.last?.plan.services ?? [];
        const allocated = services.filter((s) => s.ips.length > 0).length;
        this.set({ state: 'allocated' }, allocated);
        this.set({ state: 'pending' }, services.length - allocated);
      },
    });
    new Gauge({
      name: 'switchyard_table_listeners',
      help: 'Listeners in the last forwarding table compiled',
      registers: [registry],
      collect() {
        this.set(metrics.last?.table.listeners.length ?? 0);
      },
    });
    this.passes = new Counter({
      name: 'switchyard_reconcile_passes_total',
      help: 'Reconcile passes completed',
      labelNames: ['result'],
      registers: [registry],
    });
    this.refused = new Counter({
      name: 'switchyard_store_writes_refused_total',
      help: 'Controller writes the store refused, by reason (stale-term: a newer leader wrote since)',
      labelNames: ['reason'],
      registers: [registry],
    });
    // Present at 0 from the start, so an alert on increase() sees the first refusal.
    this.refused.inc({ reason: 'stale-term' }, 0);
  }

  /** Count a store write that was refused (the loop's `onStoreRefused`). */
  storeRefused(reason: StoreRefusal): void {
    this.refused.inc({ reason });
  }

  /** Record a completed pass (the loop's `onPass`). */
  observe(result: PassResult): void {
    this.last = result;
    this.passes.inc({ result: 'ok' });
  }
}
