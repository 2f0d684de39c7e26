/**
 * Backends that fail the ways real nodes do (accept and reset, accept and never answer, blackhole
 * SYNs) are detected and routed around within the health-check budget, with the real speaker and
 * its real health checker (kube-proxy-style HTTP checks). And the question of what happens when
 * every health check fails: the speaker keeps serving through backends whose NodePort still answers
 * (fail open, as cloud load balancers do) and refuses only when the NodePorts are really gone.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../../shared/log.ts';
import { HealthChecker } from '../../speaker/health/health-checker.ts';
import { type HealthState, healthTargetKey } from '../../speaker/health/health-target.ts';
import type { Speaker } from '../../speaker/speaker.ts';
import { startTestSpeaker } from '../harness/speaker.ts';
import { freePort, loopbackAddress, within } from '../speaker/loopback.ts';
import { FaultNode, type NodeMode } from './fault-node.ts';
import { report, scaled } from './scale.ts';

const INTERVAL_MS = 200;
const TIMEOUT_MS = 200;
const FALL = 2;
const RISE = 2;
const CONNECT_MS = 300;
/**
 * Worst case from the fault to the ejection by active checks: the probe running at the fault may
 * still pass, then FALL probes must fail, each up to an interval (+10 % jitter) plus its timeout.
 * 250 ms more for timer lateness on a loaded machine.
 */
const BUDGET_MS = (FALL + 1) * (INTERVAL_MS * 1.1 + TIMEOUT_MS) + 250;
const RATE = scaled(60, 150);
const CLIENT_TIMEOUT_MS = 1000;
const WATCH_MS = scaled(800, 4000);

/** One request: connect, send, the node's name back; or why not. */
function ask(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let done = false;
    const finish = (what: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(what);
    };
    const timer = setTimeout(() => finish('fail:timeout'), CLIENT_TIMEOUT_MS);
    s.on('connect', () => s.write('?'));
    s.on('data', (d: Buffer) => finish(d.toString()));
    s.on('error', (e: NodeJS.ErrnoException) => finish(`fail:${e.code ?? e.message}`));
    s.on('close', () => finish('fail:closed'));
  });
}

interface Sample {
  readonly start: number;
  readonly answer: string;
}

/** Requests at RATE per second until `stop()`; every result with its start time. */
function traffic(host: string, port: number): { samples: Sample[]; stop(): Promise<void> } {
  const samples: Sample[] = [];
  const pending = new Set<Promise<void>>();
  const timer = setInterval(() => {
    for (let i = 0; i < RATE / 20; i++) {
      const start = performance.now();
      const p = ask(host, port).then((answer) => {
        samples.push({ start, answer });
        pending.delete(p);
      });
      pending.add(p);
    }
  }, 50);
  return {
    samples,
    stop: async () => {
      clearInterval(timer);
      await Promise.all(pending);
    },
  };
}

describe('bad backends and failing health checks (real speaker, real health checker)', {
  timeout: 240_000,
}, () => {
  let dir: string;
  let nodes: FaultNode[];
  let health: HealthChecker;
  let speaker: Speaker;
  let vip: string;
  let port: number;
  let keys: string[];

  /** Resolves with the time target `key` reaches `state` (now if it is there already). */
  const reaches = (key: string, state: HealthState, ms: number) =>
    within(
      ms,
      `${key} to become ${state}`,
      new Promise<number>((resolve) => {
        if (health.state(key) === state) return resolve(performance.now());
        health.onChange((c) => {
          if (c.key === key && c.state === state) resolve(performance.now());
        });
      }),
    );

  const allHealthy = () => Promise.all(keys.map((k) => reaches(k, 'healthy', 10_000)));

  /** Put the nodes in `modes`, wait until every target is unhealthy, run traffic for a second, restore. */
  async function underFaults(modes: readonly NodeMode[]): Promise<{ samples: Sample[] }> {
    await allHealthy();
    try {
      for (const [i, m] of modes.entries()) await nodes[i]!.setMode(m);
      await Promise.all(keys.map((k) => reaches(k, 'unhealthy', 10_000)));
      const t = traffic(vip, port);
      await new Promise((r) => setTimeout(r, scaled(600, 3000)));
      await t.stop();
      return t;
    } finally {
      for (const n of nodes) await n.setMode('ok');
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-badbackends-'));
    for (let attempt = 0; ; attempt++) {
      try {
        const first = await FaultNode.start('node-a');
        nodes = [
          first,
          await FaultNode.start('node-b', first.healthPort),
          await FaultNode.start('node-c', first.healthPort),
        ];
        break;
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
    const check = { type: 'http' as const, port: nodes[0]!.healthPort, path: '/healthz' };
    keys = nodes.map((n) => healthTargetKey(check, n.backend()));
    vip = loopbackAddress();
    port = await freePort(vip);
    const path = join(dir, 'table.json');
    await writeFile(
      path,
      JSON.stringify({
        version: 1,
        listeners: [
          {
            service: 'faults/web',
            vip,
            port,
            backends: nodes.map((n) => n.backend()),
            healthCheck: { ...check, interval: INTERVAL_MS, timeout: TIMEOUT_MS, rise: RISE, fall: FALL },
            connectAttempts: 3,
            timeouts: { connect: CONNECT_MS, idle: '30s', halfClosed: '30s', drain: '1s' },
          },
        ],
      }),
    );
    const registry = new Registry();
    health = new HealthChecker({ logger: silentLogger(), registry });
    speaker = await startTestSpeaker({
      tablePath: path,
      drainTimeoutMs: 1000,
      registry,
      health,
    });
  });

  after(async () => {
    await speaker?.stop();
    for (const n of nodes ?? []) await n.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const mode of ['accept-reset', 'accept-silent', 'blackhole'] as const satisfies readonly NodeMode[]) {
    it(`a node that goes ${mode} is ejected within ${Math.round(BUDGET_MS)} ms and no request started after that fails`, {
      timeout: 30_000,
    }, async () => {
      await allHealthy();
      const bad = nodes[1]!;
      const t = traffic(vip, port);
      await new Promise((r) => setTimeout(r, 300));
      const faultAt = performance.now();
      let ejectedAt: number;
      try {
        await bad.setMode(mode);
        ejectedAt = await reaches(keys[1]!, 'unhealthy', 10_000);
        await new Promise((r) => setTimeout(r, WATCH_MS));
      } finally {
        await t.stop();
        await bad.setMode('ok');
      }
      const after = t.samples.filter((s) => s.start >= faultAt);
      const failed = after.filter((s) => s.answer.startsWith('fail:'));
      const lateFailures = failed.filter((s) => s.start >= faultAt + BUDGET_MS);
      const badAnswers = t.samples.filter((s) => s.answer === bad.name && s.start >= ejectedAt + 50);
      report(`bad-backend-${mode}`, {
        detectMs: Math.round(ejectedAt - faultAt),
        budgetMs: Math.round(BUDGET_MS),
        requestsAfterFault: after.length,
        failedInWindow: failed.length,
        failedAfterBudget: lateFailures.length,
        answeredByBadAfterEjection: badAnswers.length,
        failures: [...new Set(failed.map((f) => f.answer))].join(','),
      });
      assert.ok(ejectedAt - faultAt <= BUDGET_MS, `ejected after ${Math.round(ejectedAt - faultAt)} ms`);
      assert.deepEqual(lateFailures, [], 'requests started after the budget all succeed');
      assert.equal(badAnswers.length, 0, 'no answer from the bad node after its ejection');
      assert.ok(after.length > 0 && after.length > failed.length);
    });
  }

  it('when every health check fails but the NodePorts answer, traffic keeps flowing (fail open)', {
    timeout: 30_000,
  }, async () => {
    await allHealthy();
    const t = await underFaults(['health-503', 'health-503', 'health-503']);
    const failed = t.samples.filter((s) => s.answer.startsWith('fail:'));
    const spread = new Set(t.samples.map((s) => s.answer));
    report('all-health-checks-failing', {
      requests: t.samples.length,
      failed: failed.length,
      answeredBy: [...spread].join(','),
    });
    assert.equal(failed.length, 0, `failures: ${[...new Set(failed.map((f) => f.answer))].join(',')}`);
    assert.equal(spread.size, 3, 'every node still takes traffic');
  });

  it('when every health check fails and one NodePort refuses too, clients are served by the others', {
    timeout: 30_000,
  }, async () => {
    await allHealthy();
    const t = await underFaults(['health-503', 'health-503', 'refuse']);
    const failed = t.samples.filter((s) => s.answer.startsWith('fail:'));
    const spread = new Set(t.samples.map((s) => s.answer));
    report('all-health-failing-one-refusing', {
      requests: t.samples.length,
      failed: failed.length,
      answeredBy: [...spread].join(','),
    });
    assert.equal(failed.length, 0);
    assert.deepEqual([...spread].sort(), ['node-a', 'node-b']);
  });

  it('when every node is really down, clients are reset at once rather than left waiting', {
    timeout: 30_000,
  }, async () => {
    await allHealthy();
    const t = await underFaults(['refuse', 'refuse', 'refuse']);
    const answers = new Map<string, number>();
    for (const s of t.samples) answers.set(s.answer, (answers.get(s.answer) ?? 0) + 1);
    const stats = (await speaker.plane.stats())[0]!.stats;
    report('all-nodes-down', {
      requests: t.samples.length,
      answers: [...answers].map(([k, v]) => `${k}:${v}`).join(','),
      noBackend: stats.rejected['no-backend'],
      connectFailed: stats.rejected['connect-failed'],
    });
    assert.deepEqual([...answers.keys()], ['fail:ECONNRESET'], 'reset, never a timeout');
  });
});
