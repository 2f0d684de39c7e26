/**
 * Speaker restart or upgrade under a steady stream of new connections: a second speaker starts on
 * the same table (SO_REUSEPORT), then the old one gets SIGTERM and drains. Counted: new connections
 * that fail (HAProxy's figure without socket hand-over is at most 1 in 10,000) and long-lived
 * connections, which must keep moving data until the drain deadline and be closed then. Run in
 * network namespaces of the test's own, once with the kernel default (net.ipv4.tcp_migrate_req=0:
 * clients waiting in the old listener's accept queue are reset when it closes) and once with
 * tcp_migrate_req=1 (the kernel moves them to the new listener).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { deleteNamespace, runScenarioIn, scenarioNamespace } from './namespace-scenario.ts';
import type { RestartOptions, RestartResult } from './restart-scenario.ts';
import { report, scaled } from './scale.ts';

const OPTIONS: RestartOptions = {
  rate: 500,
  restarts: scaled(1, 10),
  drainMs: scaled(1000, 5000),
  longLived: scaled(20, 100),
  overlapMs: 300,
};
const SCENARIO = join(import.meta.dirname, 'restart-scenario.ts');

describe('speaker restart under new connections (SO_REUSEPORT, then SIGTERM drains the old one)', {
  timeout: scaled(300_000, 2_000_000),
}, () => {
  const namespaces: string[] = [];
  after(async () => {
    for (const ns of namespaces) await deleteNamespace(ns);
  });

  for (const migrate of [0, 1] as const) {
    it(`tcp_migrate_req=${migrate}: ${OPTIONS.restarts} restart(s) at ${OPTIONS.rate} new connections/s; long-lived connections drained until the deadline${migrate ? '; at most 1 failed in 10,000' : '; failures are accept-queue resets only'}`, async () => {
      const ns = await scenarioNamespace('restart', [`net.ipv4.tcp_migrate_req=${migrate}`]);
      namespaces.push(ns);
      const r = await runScenarioIn<RestartResult>(
        ns,
        SCENARIO,
        OPTIONS,
        scaled(120_000, 900_000),
        'the restart scenario',
      );
      const per10k = (r.failed / r.attempted) * 10_000;
      report(`speaker-restart-migrate${migrate}`, {
        restarts: OPTIONS.restarts,
        rate: OPTIONS.rate,
        attempted: r.attempted,
        failed: r.failed,
        per10k: per10k.toFixed(2),
        failures: JSON.stringify(r.failures),
        longLived: OPTIONS.longLived,
        longMovedDuringDrain: r.longMovedDuringDrain,
        longClosedEarly: r.longClosedEarly,
        longNotClosed: r.longNotClosed,
        longClosedMsAfterTerm: `${r.longClosedFromMs}-${r.longClosedToMs}`,
        drainMs: OPTIONS.drainMs,
        exitCodes: r.exitCodes.join(','),
      });
      assert.deepEqual(
        r.exitCodes,
        Array(OPTIONS.restarts).fill(0),
        'every old speaker drained and exited 0',
      );
      assert.equal(r.longMovedDuringDrain, OPTIONS.longLived, 'long-lived connections kept moving data');
      assert.equal(r.longClosedEarly, 0, 'no long-lived connection closed before the deadline');
      assert.equal(r.longNotClosed, 0, 'every long-lived connection closed at the deadline');
      assert.ok(r.attempted >= OPTIONS.rate * (OPTIONS.restarts + 1), `only ${r.attempted} attempted`);
      // Without migration the kernel resets what waits in the closed listener's queue; nothing else.
      for (const reason of Object.keys(r.failures)) assert.equal(reason, 'ECONNRESET');
      if (migrate === 1) assert.ok(per10k <= 1, `${r.failed} of ${r.attempted} new connections failed`);
    });
  }
});
