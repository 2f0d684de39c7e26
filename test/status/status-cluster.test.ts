import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import type { StatusReport } from '../../shared/status-model.ts';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import { runCli } from '../cli/run-cli.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { eventually } from '../store/await-events.ts';
import { type Child, freePort, startSwitchyard, statusManifest } from './status-fixture.ts';

const VIPS = ['127.0.13.1', '127.0.13.2'];
const NODES = [
  { name: 'n1', address: '127.0.23.1' },
  { name: 'n2', address: '127.0.23.2' },
];

describe('switchyard status --redis-url (controller, two speakers, real Redis)', { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let store: RedisStore;
  let dir: string;
  const children: Child[] = [];
  before(async () => {
    redis = await startRedis();
    const conn = redisConnectionFrom({ redisUrl: redis.url });
    assert.ok(conn.ok);
    store = new RedisStore(conn.value, { logger: silentLogger() });
    dir = await mkdtemp(join(tmpdir(), 'sy-status-cluster-'));
    const file = join(dir, 'manifest.yaml');
    const port = await freePort(VIPS[0]);
    await writeFile(
      file,
      statusManifest({ pool: '127.0.13.0/28', vips: VIPS, port, nodes: NODES, firstNodePort: 30121 }),
    );
    children.push(
      startSwitchyard([
        'controller',
        '--config',
        file,
        '--redis-url',
        redis.url,
        '--kube-proxy-health-port',
        '0',
        '--metrics-address',
        'off',
      ]),
    );
    for (const n of NODES) {
      children.push(
        startSwitchyard([
          'speaker',
          '--redis-url',
          redis.url,
          '--node-name',
          n.name,
          '--node-address',
          n.address,
          '--announce',
          'local',
          '--workers',
          '0',
          '--lease-ttl',
          '3s',
          '--lease-renew',
          '500ms',
          '--metrics-address',
          `127.0.0.1:${await freePort()}`,
        ]),
      );
    }
    // Each VIP held by the node rendezvous hashing prefers: a speaker that started first may hold
    // both for a while and hand one over seconds later, under the assertions.
    const names = NODES.map((n) => n.name);
    await eventually(
      async () => {
        const leases = await store.readLeases(VIPS);
        return (
          leases.length === VIPS.length && leases.every((l) => l.holder === preferredOwner(l.vip, names))
        );
      },
      30_000,
      `each VIP to be held by its preferred node (${children.map((c) => c.out()).join('\n')})`,
      100,
    );
  });
  after(async () => {
    await Promise.all(children.map((c) => c.stop()));
    await store?.close();
    await redis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows the lease holder of each VIP among n1/n2, the pool, and both speakers reachable', async () => {
    const r = await runCli(['status', '--redis-url', redis.url, '-o', 'json'], 20_000);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as StatusReport;
    assert.equal(report.source, 'cluster');
    const leases = new Map((await store.readLeases(VIPS)).map((l) => [l.vip, l.holder]));
    assert.deepEqual(
      report.listeners.map((l) => [l.vip, l.owner]),
      VIPS.map((v) => [v, leases.get(v)]),
    );
    for (const l of report.listeners) {
      assert.ok(['n1', 'n2'].includes(l.owner ?? ''), `${l.vip} owned by ${l.owner}`);
      assert.notEqual(l.connections, null, 'the speakers reported their counters');
    }
    assert.deepEqual(report.pools, [
      { name: 'status-pool', assignedIPv4: 2, availableIPv4: 14, assignedIPv6: 0, availableIPv6: 0 },
    ]);
    assert.deepEqual(
      report.speakers.map((s) => [s.node, s.address, s.reachable]),
      [
        ['n1', '127.0.23.1', true],
        ['n2', '127.0.23.2', true],
      ],
    );
    assert.deepEqual(report.notes, []);
  });

  it('prints the owners and pools as a table', async () => {
    const r = await runCli(['status', '--redis-url', redis.url], 20_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^st\/svc-1\s+127\.0\.13\.1:\d+\s+n[12]\s+n1:\S+ n2:\S+\s+\d+\s+\d+\s/m);
    assert.match(r.stdout, /^st\/svc-2\s+127\.0\.13\.2:\d+\s+n[12]\s/m);
    assert.match(r.stdout, /^status-pool\s+2\s+14\s+0\s+0$/m);
    assert.match(r.stdout, /^n1\s+127\.0\.23\.1\s+\S+\s+\d+s\s+\d$/m);
  });

  it('shows "-" and a note for a speaker that does not answer, and returns within seconds', async () => {
    const url = `http://127.0.0.1:${await freePort()}/status`;
    await store.heartbeat(
      {
        node: 'n9',
        address: '127.0.23.9',
        startedAt: new Date().toISOString(),
        version: 'old',
        statusUrl: url,
      },
      10_000,
    );
    try {
      const r = await runCli(['status', '--redis-url', redis.url, '-o', 'json'], 20_000);
      assert.equal(r.code, 0, r.stderr);
      const report = JSON.parse(r.stdout) as StatusReport;
      assert.equal(report.speakers.find((s) => s.node === 'n9')?.reachable, false);
      assert.match(report.notes.join('\n'), new RegExp(`speaker n9 did not answer at ${url}`));
    } finally {
      await store.removeSpeaker('n9');
    }
  });

  it('treats a garbage pools key as unknown, and reads a heartbeat without statusUrl (an older speaker)', async () => {
    await redis.command('SET', 'switchyard-garbage-test:pools', '{not json');
    await redis.command(
      'HSET',
      'switchyard-garbage-test:speaker:old',
      'node',
      'old',
      'address',
      '127.0.23.8',
      'startedAt',
      new Date().toISOString(),
      'version',
      '0.0.9',
    );
    await redis.command('EXPIRE', 'switchyard-garbage-test:speaker:old', '30');
    await redis.command('SADD', 'switchyard-garbage-test:speakers', 'old');
    const conn = redisConnectionFrom({ redisUrl: redis.url, redisKeyPrefix: 'switchyard-garbage-test:' });
    assert.ok(conn.ok);
    const other = new RedisStore(conn.value, { logger: silentLogger() });
    try {
      assert.equal(await other.poolStatuses(), null);
      const [old] = await other.listSpeakers();
      assert.equal(old?.node, 'old');
      assert.equal(old?.statusUrl, undefined);
    } finally {
      await other.close();
    }
  });

  it('exits 1 with the one-line Redis error when Redis does not answer', async () => {
    const r = await runCli(['status', '--redis-url', `redis://127.0.0.1:${await freePort()}`], 20_000);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*Redis does not answer.*--redis-url/m);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
