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
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { within } from '../speaker/loopback.ts';
import type { RestartOptions, RestartResult } from './restart-scenario.ts';
import { report, scaled } from './scale.ts';
import { NODE } from './speaker-process.ts';

const OPTIONS: RestartOptions = {
  rate: 500,
  restarts: scaled(1, 10),
  drainMs: scaled(1000, 5000),
  longLived: scaled(20, 100),
  overlapMs: 300,
};
const SCENARIO = join(import.meta.dirname, 'restart-scenario.ts');

function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: 10_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** A bare network namespace (loopback only); the `sye2e-PID-` prefix lets later runs remove leftovers. */
async function namespace(migrate: 0 | 1): Promise<string> {
  const ns = `sye2e-${process.pid}-${Math.floor(Math.random() * 1e6)}-restart`;
  await ip(['netns', 'add', ns]);
  await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  await ip(['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv4.tcp_migrate_req=${migrate}`]);
  return ns;
}

/** Run the scenario in `ns` and parse its figures. */
async function runIn(ns: string): Promise<RestartResult> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, NODE, '--import', 'tsx', SCENARIO, JSON.stringify(OPTIONS)],
    {
      cwd: join(import.meta.dirname, '../..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const [code] = (await within(
    scaled(120_000, 900_000),
    'the restart scenario',
    once(child, 'exit').catch(() => [1]),
  )) as [number];
  assert.equal(code, 0, `scenario failed: ${err.slice(-2000)}`);
  return JSON.parse(out.trim().split('\n').at(-1)!) as RestartResult;
}

describe('speaker restart under new connections (SO_REUSEPORT, then SIGTERM drains the old one)', {
  timeout: scaled(300_000, 2_000_000),
}, () => {
  const namespaces: string[] = [];
  after(async () => {
    for (const ns of namespaces) await ip(['netns', 'del', ns]).catch(() => {});
  });

  for (const migrate of [0, 1] as const) {
    it(`tcp_migrate_req=${migrate}: ${OPTIONS.restarts} restart(s) at ${OPTIONS.rate} new connections/s; long-lived connections drained until the deadline${migrate ? '; at most 1 failed in 10,000' : '; failures are accept-queue resets only'}`, async () => {
      const ns = await namespace(migrate);
      namespaces.push(ns);
      const r = await runIn(ns);
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
