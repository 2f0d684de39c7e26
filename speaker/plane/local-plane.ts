/** The data plane in the main thread (`--workers 0`): one Forwarder, called directly. */
import type { Logger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { type BindReport, Forwarder } from '../forward/forwarder.ts';
import type { RelayIo } from '../forward/io/relay-io.ts';
import type { ListenerStatsEntry } from '../forward/listener-stats.ts';
import type { HealthChange, HealthState } from '../health/health-target.ts';
import type { DataPlane, DataPlaneEvents } from './data-plane.ts';

/** In-process data plane. */
export class LocalPlane implements DataPlane {
  readonly threads = 1;
  readonly forwarder: Forwarder;

  constructor(opts: {
    logger: Logger;
    events: DataPlaneEvents;
    speakerLimit: Int32Array;
    io: RelayIo;
  }) {
    this.forwarder = new Forwarder({
      logger: opts.logger,
      io: opts.io,
      onConnectFailure: opts.events.onConnectFailure,
      speakerLimit: opts.speakerLimit,
    });
  }

  apply(
    table: ForwardingTable,
    health: ReadonlyMap<string, HealthState>,
    counters: ReadonlyMap<string, Int32Array>,
  ): Promise<BindReport[]> {
    return this.forwarder.apply(table, health, counters);
  }

  setHealth(changes: readonly HealthChange[]): void {
    this.forwarder.setHealth(changes);
  }

  stats(): Promise<ListenerStatsEntry[]> {
    // Copies, so that a caller holding them does not see later increments.
    return Promise.resolve(this.forwarder.stats().map((e) => ({ ...e, stats: structuredClone(e.stats) })));
  }

  drain(timeoutMs: number): Promise<void> {
    return this.forwarder.drain(timeoutMs);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
