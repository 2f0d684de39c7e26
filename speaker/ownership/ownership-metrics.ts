/**
 * Prometheus series of VIP ownership, on the speaker's registry: how many VIPs this node keeps, how
 * often ownership changed and why, and the lease epoch of each VIP it keeps (a changed epoch on a
 * dashboard is a VIP that moved or was re-acquired).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { VipOwnership } from './ownership-loop.ts';

/** A change as counted: `lost` covers every loss reason (the log line carries the reason). */
export type OwnershipChangeKind = 'gained' | 'suspended' | 'lost';

/** What the series read at scrape time. */
export type OwnershipSnapshot = () => readonly { vip: string; state: VipOwnership; epoch: number }[];

/** The ownership series of one speaker. */
export class OwnershipMetrics {
  readonly #changes: Counter<'node' | 'change'>;
  readonly #node: string;

  constructor(registry: Registry, node: string, snapshot: OwnershipSnapshot, discontinuities: () => number) {
    this.#node = node;
    const registers = [registry];
    new Gauge({
      name: 'switchyard_vips_owned',
      help: 'VIPs this node owns, suspended ones (kept while the store is away) included.',
      labelNames: ['node'],
      registers,
      collect() {
        this.set({ node }, snapshot().length);
      },
    });
    new Gauge({
      name: 'switchyard_vips_suspended',
      help: 'VIPs this node keeps without a lease because the store does not answer (no gratuitous ARP).',
      labelNames: ['node'],
      registers,
      collect() {
        this.set({ node }, snapshot().filter((o) => o.state === 'suspended').length);
      },
    });
    new Gauge({
      name: 'switchyard_vip_lease_epoch',
      help: 'Lease epoch of each VIP this node owns; it rises whenever the VIP moves or is taken again.',
      labelNames: ['node', 'vip'],
      registers,
      collect() {
        this.reset();
        for (const o of snapshot()) this.set({ node, vip: o.vip }, o.epoch);
      },
    });
    new Counter({
      name: 'switchyard_store_discontinuities_total',
      help: 'Times this speaker saw the store lose its memory (a restart, failover or wipe changed its incarnation).',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        this.inc({ node }, discontinuities());
      },
    });
    this.#changes = new Counter({
      name: 'switchyard_vip_ownership_changes_total',
      help: 'VIP ownership changes on this node: gained, suspended (store away), lost (any reason).',
      labelNames: ['node', 'change'],
      registers,
    });
    // Zero series from the start, so rate() works from the first scrape.
    for (const change of ['gained', 'suspended', 'lost'] as const) this.#changes.inc({ node, change }, 0);
  }

  /** Count one change. */
  changed(change: OwnershipChangeKind): void {
    this.#changes.inc({ node: this.#node, change });
  }
}
