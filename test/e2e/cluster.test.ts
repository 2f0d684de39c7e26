/**
 * Switchyard as a cluster, end to end, in network namespaces: Redis and the controller (manifest
 * mode) in `ctl`, a speaker (l2 on eth0) and a backend on every node, clients in `client`. Every
 * figure is printed (one `e2e:` line each) and asserted against the target of the issue "Speakers
 * across nodes". Needs root; CI runs as root.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  type Attempt,
  SwitchyardNetns as Cluster,
  NODES,
  PREFERRED,
  type SwitchyardNetns,
  VIP,
} from './switchyard-netns.ts';

/** Failover repetitions (kill -9 of the owner, then restart it). */
const FAILOVER_RUNS = 10;
const LEASE_TTL_MS = 2000;
const REDIS_OUTAGE_MS = 30_000;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function failures(attempts: readonly Attempt[]): Attempt[] {
  return attempts.filter((a) => !a.ok);
}

/** The node that takes the VIP when `down` is gone: the one preferred among the others. */
function successor(down: string): string {
  return PREFERRED === down ? NODES.find((n) => n !== down && n !== PREFERRED)! : PREFERRED;
}

describe('Switchyard cluster in network namespaces', { timeout: 240_000 }, () => {
  let c: SwitchyardNetns;
  before(async () => {
    c = await Cluster.start();
    const ms = await c.converged(PREFERRED, 30_000);
    console.log(
      `e2e: cold start: ${PREFERRED} owns ${VIP} ${Math.round(ms)} ms after every speaker logged speaker-started`,
    );
  });
  after(async () => {
    await c?.destroy();
  });

  it('reaches the Service through the VIP, balanced over the three nodes', { timeout: 30_000 }, async () => {
    const loop = c.client({ intervalMs: 20, maxAttempts: 30, maxMs: 15_000, connectTimeoutMs: 500 });
    const attempts = await loop.done(20_000);
    assert.equal(attempts.length, 30);
    assert.deepEqual(failures(attempts), []);
    const perNode = new Map<string, number>();
    for (const a of attempts) perNode.set(a.node!, (perNode.get(a.node!) ?? 0) + 1);
    console.log(`e2e: balance over 30 connections: ${[...perNode].map(([n, k]) => `${n}=${k}`).join(' ')}`);
    assert.deepEqual([...perNode.keys()].sort(), [...NODES]);
  });
});
