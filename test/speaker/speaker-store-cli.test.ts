import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import { redisConnectionFrom } from '../../shared/store/redis-options.ts';
import { RedisStore } from '../../shared/store/redis-store.ts';
import { BIN, runCli } from '../cli/run-cli.ts';
import { startRedis, type TestRedis } from '../harness/redis.ts';
import { eventually } from '../store/await-events.ts';
import {
  type Backend,
  freePort,
  listenerDoc,
  loopbackAddress,
  roundTrip,
  startBackend,
  table,
  within,
} from './loopback.ts';

/** Ports below this need CAP_NET_BIND_SERVICE in this network namespace (containers often lower it). */
const PORT_START = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());

describe('switchyard speaker --redis-url (the real process)', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let store: RedisStore;
  let echo: Backend;
  const children: ChildProcess[] = [];
  before(async () => {
    redis = await startRedis();
    const conn = redisConnectionFrom({ redisUrl: redis.url });
    assert.ok(conn.ok);
    store = new RedisStore(conn.value, { logger: silentLogger() });
    echo = await startBackend();
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await store?.close();
    await echo?.close();
    await redis?.stop();
  });

  it('serves the table from Redis, owns the VIP, and on SIGTERM releases its lease and registration and exits 0', async () => {
    const vip = loopbackAddress();
    const port = await freePort(vip);
    await store.publishTable(
      table([listenerDoc({ vip, port, backends: [{ address: echo.address, nodePort: echo.port }] })]),
    );
    const child = spawn(
      process.execPath,
      [
        BIN,
        'speaker',
        '--redis-url',
        redis.url,
        '--node-name',
        'node-a',
        '--announce',
        'local',
        '--workers',
        '0',
        '--metrics-address',
        'off',
        '--lease-ttl',
        '1s',
        '--lease-renew',
        '250ms',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const leases = await eventually(
      async () => {
        const l = await store.readLeases([vip]);
        return l.length === 1 ? l : undefined;
      },
      20_000,
      `the speaker to take the lease (stderr: ${err})`,
      100,
    );
    assert.equal(leases[0]!.holder, 'node-a');
    assert.deepEqual(
      (await store.listSpeakers()).map((s) => s.node),
      ['node-a'],
    );
    await eventually(
      () => out.includes('"event":"table-applied","reason":"store"') || undefined,
      10_000,
      'the table',
    );
    const r = await roundTrip(vip, port, 'through the store');
    assert.equal(r.data.toString(), 'through the store');
    child.kill('SIGTERM');
    const [code] = await within(20_000, 'the speaker to exit', once(child, 'exit'));
    assert.equal(code, 0, err);
    assert.deepEqual(await store.readLeases([vip]), [], 'the lease was released, not left to expire');
    assert.deepEqual(await store.listSpeakers(), []);
  });

  it('exits 2 with one clear line when given both --table and --redis-url, or neither', async () => {
    const both = await runCli(['speaker', '--table', 'x.yaml', '--redis-url', redis.url]);
    assert.equal(both.code, 2);
    assert.match(
      both.stderr,
      /^error: switchyard speaker: --table="x\.yaml": .*not both \[flag\.table-source\]$/m,
    );
    const neither = await runCli(['speaker']);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /^error: .*--redis-url.*\[flag\.table-source\]$/m);
    assert.doesNotMatch(both.stderr + neither.stderr, /\n\s+at /, 'no stack trace');
  });

  it('exits 2 naming --interface when l2 mode has no interface', async () => {
    const r = await runCli(['speaker', '--redis-url', redis.url, '--node-name', 'n1']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: .*--interface.*\[flag\.interface\]$/m);
  });

  it('exits 1 with one clear line when Redis does not answer', async () => {
    const r = await runCli([
      'speaker',
      '--redis-url',
      'redis://127.0.0.1:1',
      '--node-name',
      'n1',
      '--announce',
      'none',
      '--metrics-address',
      '127.0.0.1:0',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: .*Redis does not answer.*--redis-url/m);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('refuses l2 mode with one clear line, before contacting Redis, when NET_ADMIN and NET_RAW are missing', async () => {
    const r = await withoutCapabilities(
      ['net_admin', 'net_raw'],
      ['speaker', '--redis-url', 'redis://127.0.0.1:1', '--node-name', 'n1', '--interface', 'lo'],
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^error: .*CAP_NET_ADMIN and CAP_NET_RAW.*\[announce\.capabilities\]$/m);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });

  it('says which capability a port below 1024 needs when NET_BIND_SERVICE is missing', {
    skip:
      PORT_START <= 81
        ? `ip_unprivileged_port_start is ${PORT_START}: port 81 needs no privilege here`
        : false,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-caps-'));
    try {
      const path = join(dir, 'table.json');
      const vip = loopbackAddress();
      await writeFile(
        path,
        JSON.stringify({
          version: 1,
          listeners: [
            listenerDoc({ vip, port: 81, backends: [{ address: echo.address, nodePort: echo.port }] }),
          ],
        }),
      );
      const r = await withoutCapabilities(
        ['net_bind_service'],
        ['speaker', '--table', path, '--workers', '0', '--metrics-address', 'off'],
        {
          untilLine: /"event":"bind-failed"/,
        },
      );
      const warning = r.stdout.split('\n').find((l) => l.includes('"event":"bind-privilege-missing"'));
      assert.ok(warning, r.stdout + r.stderr);
      assert.deepEqual(JSON.parse(warning).ports, [81]);
      assert.match(warning, /CAP_NET_BIND_SERVICE/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Run the CLI as root with `caps` dropped from the bounding set (so from the effective set too),
 * through util-linux's setpriv. With `untilLine`, stop it (SIGTERM) once stdout has such a line.
 */
function withoutCapabilities(
  caps: readonly string[],
  args: readonly string[],
  opts: { untilLine?: RegExp } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      'setpriv',
      ['--bounding-set', caps.map((c) => `-${c}`).join(','), '--', process.execPath, BIN, ...args],
      { timeout: 20_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
      },
    );
    if (opts.untilLine) {
      let seen = '';
      child.stdout?.on('data', (d: string) => {
        seen += d;
        if (opts.untilLine!.test(seen)) child.kill('SIGTERM');
      });
    }
  });
}
