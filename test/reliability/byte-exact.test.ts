/**
 * Byte-exact relay under concurrency (byte-exact-scenario.ts): many connections through the real
 * speaker each move a large stream both ways with the FINs in a random order; every byte must arrive
 * exactly once and in order, and no socket may stay half-closed afterwards.
 *
 * It runs in a network namespace of its own with TCP congestion control `reno`. The machine's
 * default here is BBR, and on loopback (64 KiB segments, ~0.1 ms RTT) a sender whose segments were
 * dropped under TCP memory pressure (a full-size run queues gigabytes) can have its pacing collapse
 * to BBR's floor of about 62 kbit/s and crawl for minutes: seen in `ss -ti` on the test's own client
 * sockets, never on the speaker's. That tests the kernel, not the relay. `reno` does not pace, and a
 * namespace may always choose it (`cubic` is not in this machine's `tcp_allowed_congestion_control`).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type ByteExactOptions, type ByteExactResult, MODES } from './byte-exact-scenario.ts';
import { deleteNamespace, runScenarioIn, scenarioNamespace } from './namespace-scenario.ts';
import { report, scaled, suiteSeed } from './scale.ts';

const SCENARIO = join(import.meta.dirname, 'byte-exact-scenario.ts');
const OPTIONS: ByteExactOptions = {
  connections: scaled(40, 1000),
  bytesEachWay: scaled(1, 10) * 2 ** 20,
  seed: suiteSeed(),
  deadlineMs: scaled(50_000, 1_700_000),
};

describe('byte-exact relay with random half-closes through the real speaker', {
  timeout: scaled(120_000, 2_100_000),
}, () => {
  const namespaces: string[] = [];
  after(async () => {
    for (const ns of namespaces) await deleteNamespace(ns);
  });

  it(`relays ${OPTIONS.connections} concurrent connections of ${OPTIONS.bytesEachWay / 2 ** 20} MiB each way byte-exact, and no socket lingers half-closed`, {
    timeout: scaled(90_000, 1_900_000),
  }, async () => {
    const ns = await scenarioNamespace('bytes', ['net.ipv4.tcp_congestion_control=reno']);
    namespaces.push(ns);
    const r = await runScenarioIn<ByteExactResult>(
      ns,
      SCENARIO,
      OPTIONS,
      OPTIONS.deadlineMs + 30_000,
      'the byte-exact scenario',
    );
    report('byte-exact', {
      seed: OPTIONS.seed,
      connections: OPTIONS.connections,
      mibEachWay: OPTIONS.bytesEachWay / 2 ** 20,
      exact: r.exact,
      modes: Object.entries(r.modes)
        .map(([m, n]) => `${m}:${n}`)
        .join(','),
      seconds: r.seconds.toFixed(1),
      throughputMiBps: ((2 * OPTIONS.connections * OPTIONS.bytesEachWay) / 2 ** 20 / r.seconds).toFixed(0),
      socketsSeen: r.socketsSeen,
      lingering: r.lingering.length,
      activeAfter: r.activeAfter ?? 'unknown',
    });
    assert.equal(r.exact, OPTIONS.connections, `not byte-exact (seed ${OPTIONS.seed}):\n${r.bad.join('\n')}`);
    assert.deepEqual(r.lingering, [], 'sockets still half-closed two seconds after the last FIN');
    assert.equal(r.activeAfter, 0, 'the speaker counts no connection open');
    for (const m of MODES) assert.ok((r.modes[m] ?? 0) > 0, `mode ${m} never ran`);
  });
});
