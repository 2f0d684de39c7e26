/** An in-process Forwarder serving one table on loopback, with its passive failures recorded. */

import { silentLogger } from '../../shared/log.ts';
import type { ForwardingTable } from '../../shared/model.ts';
import { type BindReport, Forwarder } from '../../speaker/forward/forwarder.ts';
import { type DataPlaneMode, loadRelayIo } from '../../speaker/forward/io/choose.ts';
import type { RelayIo, RelayIoImplementation } from '../../speaker/forward/io/relay-io.ts';
import type { ListenerRuntime } from '../../speaker/forward/listener-runtime.ts';
import type { ListenerStats } from '../../speaker/forward/listener-stats.ts';
import { newLimitCell } from '../../speaker/forward/shared-limit.ts';
import type { HealthState } from '../../speaker/health/health-target.ts';

/** A running in-process forwarder. */
export interface ForwarderFixture {
  readonly forwarder: Forwarder;
  /** Health-target keys reported as failed, in order. */
  readonly failures: string[];
  readonly reports: BindReport[];
  /** The live listener runtime of `key`. */
  runtime(key: string): ListenerRuntime;
  /** Counters of `key`. */
  stats(key: string): ListenerStats;
  close(): Promise<void>;
}

/**
 * The implementation of the relay's I/O the data-plane tests run against: `SWITCHYARD_DATA_PLANE`
 * (the speaker's own flag twin, so spawned speakers follow it too), handles by default.
 * sockets-data-plane.test.ts sets it to `sockets` and runs the data-plane test files again.
 */
export function dataPlaneUnderTest(): RelayIoImplementation {
  const mode = (process.env.SWITCHYARD_DATA_PLANE ?? 'handles') as DataPlaneMode;
  return mode === 'sockets' ? 'sockets' : 'handles';
}

/** The relay's I/O of `dataPlaneUnderTest`, loaded once per process. */
let underTest: Promise<RelayIo> | null = null;
export function relayIoUnderTest(): Promise<RelayIo> {
  underTest ??= loadRelayIo(dataPlaneUnderTest());
  return underTest;
}

/** Serve `table` in this thread. */
export async function startForwarder(
  table: ForwardingTable,
  opts: { health?: ReadonlyMap<string, HealthState>; speakerMax?: number } = {},
): Promise<ForwarderFixture> {
  const failures: string[] = [];
  const forwarder = new Forwarder({
    logger: silentLogger(),
    io: await relayIoUnderTest(),
    onConnectFailure: (k) => failures.push(k),
    speakerLimit: newLimitCell(opts.speakerMax ?? 0),
  });
  const reports = await forwarder.apply(table, opts.health ?? new Map(), new Map());
  const runtime = (key: string) => {
    const rt = forwarder.listener(key);
    if (!rt) throw new Error(`no listener ${key}`);
    return rt;
  };
  return {
    forwarder,
    failures,
    reports,
    runtime,
    stats: (key) => {
      const e = forwarder.stats().find((s) => s.key === key);
      if (!e) throw new Error(`no stats for ${key}`);
      return e.stats;
    },
    close: () => forwarder.drain(0),
  };
}
