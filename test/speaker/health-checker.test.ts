import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { silentLogger } from '../../shared/log.ts';
import type { HealthTiming } from '../../shared/model.ts';
import { parseTable } from '../../shared/table-parse.ts';
import { HealthChecker } from '../../speaker/health/health-checker.ts';
import type { HealthChange, HealthState } from '../../speaker/health/health-target.ts';
import { healthTargets } from '../../speaker/health/health-target.ts';
import { within } from '../harness/wait.ts';
import {
  closedPort,
  type ScriptedHealthServer,
  type SilentServer,
  startHealthServer,
  startSilentServer,
  target,
} from './health-servers.ts';

const HOST = '127.0.0.1';
const execFileAsync = promisify(execFile);
const fast: HealthTiming = { intervalMs: 50, timeoutMs: 500, rise: 2, fall: 3 };

/** Records every change, with how many requests the server had answered when it happened. */
class ChangeLog {
  readonly changes: { key: string; state: HealthState; requests: number }[] = [];
  readonly #waiters: { key: string; state: HealthState; from: number; resolve: () => void }[] = [];
  constructor(checker: HealthChecker, server?: ScriptedHealthServer) {
    checker.onChange((c: HealthChange) => {
      this.changes.push({ ...c, requests: server?.requests.length ?? 0 });
      for (const w of [...this.#waiters]) {
        if (this.#seen(w.key, w.state, w.from)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
  }
  #seen(key: string, state: HealthState, from: number): boolean {
    return this.changes.slice(from).some((c) => c.key === key && c.state === state);
  }
  /** Resolves when `key` has changed to `state` at or after change number `from`; rejects after 5 s. */
  waitFor(key: string, state: HealthState, from = 0): Promise<void> {
    if (this.#seen(key, state, from)) return Promise.resolve();
    const seen = new Promise<void>((resolve) => this.#waiters.push({ key, state, from, resolve }));
    return within(5000, `${key} to become ${state}`, seen).catch(() => {
      throw new Error(`${key} did not become ${state}; changes: ${JSON.stringify(this.changes)}`);
    });
  }
}

describe('HealthChecker', { timeout: 15_000 }, () => {
  const checkers: HealthChecker[] = [];
  const servers: { close(): Promise<void> }[] = [];
  const newChecker = (opts: { registry?: Registry; random?: () => number } = {}): HealthChecker => {
    const c = new HealthChecker({ logger: silentLogger(), random: () => 0.5, ...opts });
    checkers.push(c);
    return c;
  };
  const server = async (script: number[], host = HOST): Promise<ScriptedHealthServer> => {
    const s = await startHealthServer(host, script);
    servers.push(s);
    return s;
  };

  afterEach(() => {
    for (const c of checkers.splice(0)) c.close();
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('marks a node healthy on 200 and unhealthy on 503, refused and timeout, from the first probe', async () => {
    const up = await server([200]);
    const local503 = await server([503]);
    const silent = await startSilentServer(HOST);
    servers.push(silent);
    // Only the silent target needs a short timeout; the others answer at once, and a long timeout
    // keeps a scheduling stall from failing a probe of `up` (which would add changes).
    const timing = { ...fast, timeoutMs: 2000 };
    const targets = [
      target('up', HOST, up.port, timing),
      target('no-endpoints', HOST, local503.port, timing),
      target('refused', HOST, await closedPort(HOST), timing),
      target('silent', HOST, silent.port, { ...fast, timeoutMs: 150 }),
    ];
    const checker = newChecker();
    const log = new ChangeLog(checker);
    checker.setTargets(targets);
    assert.equal(checker.state(targets[0]!.key), 'unknown');
    const want: HealthState[] = ['healthy', 'unhealthy', 'unhealthy', 'unhealthy'];
    await Promise.all(targets.map((t, i) => log.waitFor(t.key, want[i]!)));
    assert.deepEqual(
      targets.map((t) => checker.state(t.key)),
      want,
    );
    assert.equal(log.changes.length, 4, 'one change each, from unknown');
  });

  it('counts rise and fall exactly: fall 3 ejects, rise 2 restores, a different result resets the streak', async () => {
    // Request n gets script[n]; each change records how many requests had been answered.
    const script = [200, 503, 503, 200, 503, 503, 503, 200, 503, 200, 200];
    const s = await server(script);
    const t = target('a', HOST, s.port, fast);
    const checker = newChecker();
    const log = new ChangeLog(checker, s);
    checker.setTargets([t]);
    await log.waitFor(t.key, 'healthy', 1);
    assert.deepEqual(
      log.changes.map((c) => [c.state, c.requests]),
      [
        ['healthy', 1],
        ['unhealthy', 7],
        ['healthy', 11],
      ],
    );
  });

  it('ejects at once on a passive connect failure, re-probes promptly and rises again', async () => {
    const s = await server([200]);
    // A 3 s interval: only the prompt re-probe can bring the target back within the test's bound.
    const t = target('a', HOST, s.port, { intervalMs: 3000, timeoutMs: 500, rise: 1, fall: 3 });
    const checker = newChecker({ random: () => 0 });
    const log = new ChangeLog(checker, s);
    checker.setTargets([t]);
    await log.waitFor(t.key, 'healthy');
    for (let i = 0; i < 50; i++) checker.reportConnectFailure(t.key);
    assert.equal(checker.state(t.key), 'unhealthy', 'ejected synchronously');
    assert.equal(log.changes.length, 2, 'one change for many reports');
    await log.waitFor(t.key, 'healthy', 2);
    assert.deepEqual(
      log.changes.map((c) => [c.state, c.requests]),
      [
        ['healthy', 1],
        ['unhealthy', 1],
        ['healthy', 2],
      ],
    );
  });

  it('after a passive failure needs `rise` fresh successes before the node is healthy again', async () => {
    const s = await server([200]);
    const t = target('a', HOST, s.port, { ...fast, rise: 3 });
    const checker = newChecker();
    const log = new ChangeLog(checker, s);
    checker.setTargets([t]);
    await log.waitFor(t.key, 'healthy');
    await s.waitForRequests(2);
    checker.reportConnectFailure(t.key);
    const reportedAt = s.requests.length;
    await log.waitFor(t.key, 'healthy', 2);
    const back = log.changes[2]!;
    // A probe in flight when the failure was reported does not count; so 3 or, at most, 4 requests.
    assert.ok(
      back.requests - reportedAt >= 3 && back.requests - reportedAt <= 4,
      `${back.requests - reportedAt}`,
    );
  });

  it('runs one probe loop for three listeners sharing a target', async () => {
    const s = await server([200]);
    const table = parseTable({
      defaults: {
        kubeProxyHealthPort: s.port,
        healthCheck: { interval: '3s', timeout: '500ms', rise: 1, fall: 3 },
      },
      listeners: ['127.0.0.10', '127.0.0.11', '127.0.0.12'].map((vip) => ({
        service: 'default/web',
        vip,
        port: 80,
        backends: [{ node: 'a', address: HOST, nodePort: 30080 }],
      })),
    });
    assert.ok(table.ok);
    const targets = healthTargets(table.value.listeners);
    assert.equal(targets.length, 1);
    const key = targets[0]!.key;
    // random 0: every loop probes at once, so extra loops would show up as extra requests right away.
    const checker = newChecker({ random: () => 0 });
    const log = new ChangeLog(checker, s);
    checker.setTargets([...targets, ...targets, ...targets]);
    checker.setTargets([...targets, ...targets]);
    await log.waitFor(key, 'healthy');
    // The prompt re-probe after a passive failure is the next request; the 3 s interval is far off.
    checker.reportConnectFailure(key);
    await log.waitFor(key, 'healthy', 2);
    assert.deepEqual(
      log.changes.map((c) => c.requests),
      [1, 1, 2],
      'one request per probe round, not one per listener',
    );
    assert.equal(checker.snapshot().size, 1);
  });

  it('stops probing a removed target and ignores its abandoned probe', async () => {
    const keep = await server([200]);
    const silent: SilentServer = await startSilentServer(HOST);
    servers.push(silent);
    const kept = target('kept', HOST, keep.port, fast);
    const dropped = target('dropped', HOST, silent.port, { ...fast, timeoutMs: 60_000 });
    const checker = newChecker({ random: () => 0 });
    const log = new ChangeLog(checker);
    const accepted = silent.nextConnection();
    checker.setTargets([kept, dropped]);
    const probeSocket = await accepted;
    checker.setTargets([kept]);
    assert.equal(checker.state(dropped.key), 'unknown');
    assert.deepEqual([...checker.snapshot().keys()], [kept.key]);
    // The abandoned probe's socket is destroyed at once rather than left to its 60 s timeout.
    if (!probeSocket.closed)
      await within(
        2000,
        'the abandoned probe socket to close',
        new Promise((resolve) => probeSocket.once('close', resolve)),
      );
    const seen = keep.requests.length;
    await keep.waitForRequests(seen + 3);
    let another = false;
    // Never rejects: it resolves only if a probe connects, which is what must not happen.
    void silent.nextConnection().then(() => {
      another = true;
    });
    await keep.waitForRequests(seen + 4);
    assert.equal(another, false, 'no new probe reached the removed target');
    assert.equal(
      log.changes.some((c) => c.key === dropped.key),
      false,
    );
  });

  it('keeps state and schedule of targets that stay across setTargets', async () => {
    const s = await server([200]);
    const t = target('a', HOST, s.port, fast);
    const checker = newChecker();
    const log = new ChangeLog(checker, s);
    checker.setTargets([t]);
    await log.waitFor(t.key, 'healthy');
    checker.setTargets([t, target('b', HOST, await closedPort(HOST), fast)]);
    assert.equal(checker.state(t.key), 'healthy');
    await s.waitForRequests(s.requests.length + 2);
    assert.equal(
      log.changes.filter((c) => c.key === t.key).length,
      1,
      'no second change for the kept target',
    );
  });

  it('applies a shortened interval at once instead of after the wait already scheduled', async () => {
    const s = await server([200]);
    const slow = target('a', HOST, s.port, { ...fast, intervalMs: 60_000 });
    const checker = newChecker({ random: () => 0 });
    const log = new ChangeLog(checker);
    checker.setTargets([slow]);
    // Healthy: the first probe has ended and the next one waits ~1 minute.
    await log.waitFor(slow.key, 'healthy');
    checker.setTargets([{ ...slow, timing: fast }]);
    await within(5000, 'three probe requests', s.waitForRequests(3));
    assert.equal(checker.state(slow.key), 'healthy');
  });

  it('probes an IPv6 node on ::1', async () => {
    const s = await server([200], '::1');
    const t = target('v6', '::1', s.port, fast);
    assert.equal(t.key, `http://[::1]:${s.port}/healthz`);
    const checker = newChecker();
    const log = new ChangeLog(checker);
    checker.setTargets([t]);
    await log.waitFor(t.key, 'healthy');
    assert.equal(checker.state(t.key), 'healthy');
  });

  it('probes a NodePort by TCP connect when there is no HTTP health check', async () => {
    const silent = await startSilentServer(HOST);
    servers.push(silent);
    const up = target('up', HOST, silent.port, fast, { type: 'tcp' });
    const down = target('down', HOST, await closedPort(HOST), fast, { type: 'tcp' });
    const checker = newChecker();
    const log = new ChangeLog(checker);
    checker.setTargets([up, down]);
    await Promise.all([log.waitFor(up.key, 'healthy'), log.waitFor(down.key, 'unhealthy')]);
    assert.equal(up.key, `tcp://${HOST}:${silent.port}`);
  });

  it('publishes probe counts, durations and per-target state in the registry', async () => {
    const s = await server([200]);
    const t = target('node-a', HOST, s.port, fast);
    const registry = new Registry();
    const checker = newChecker({ registry });
    const log = new ChangeLog(checker);
    checker.setTargets([t]);
    await log.waitFor(t.key, 'healthy');
    const text = await registry.metrics();
    assert.match(text, /switchyard_health_checks_total\{type="http",result="success"\} [1-9]/);
    assert.match(
      text,
      /switchyard_health_check_duration_seconds_count\{type="http",result="success"\} [1-9]/,
    );
    assert.ok(text.includes(`switchyard_backend_healthy{node="node-a",target="${t.key}"} 1`), text);
    checker.reportConnectFailure(t.key);
    assert.ok(
      (await registry.metrics()).includes(`switchyard_backend_healthy{node="node-a",target="${t.key}"} 0`),
    );
    checker.setTargets([]);
    assert.ok(!(await registry.metrics()).includes(`target="${t.key}"`), 'series removed with the target');
  });

  it('keeps probing and notifying when a change listener throws', async () => {
    const s = await server([200]);
    const t = target('a', HOST, s.port, fast);
    const checker = newChecker();
    checker.onChange(() => {
      throw new Error('listener bug');
    });
    const log = new ChangeLog(checker);
    checker.setTargets([t]);
    await log.waitFor(t.key, 'healthy');
    checker.reportConnectFailure(t.key);
    await log.waitFor(t.key, 'healthy', 2);
  });
});

describe('HealthChecker.close', { timeout: 20_000 }, () => {
  let silent: SilentServer;
  let up: ScriptedHealthServer;
  before(async () => {
    silent = await startSilentServer(HOST);
    up = await startHealthServer(HOST, [200]);
  });
  after(async () => {
    await Promise.all([silent.close(), up.close()]);
  });

  /**
   * Run the fixture; once it prints `probing`, give it `graceMs` to exit on its own. Resolves with
   * its exit code, or null if it was still running (then it is killed).
   */
  function runFixture(closeIt: boolean, graceMs: number): Promise<{ code: number | null; out: string }> {
    const fixture = fileURLToPath(new URL('./health-close.fixture.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fixture, String(silent.port), String(up.port)],
      {
        env: { ...process.env, CLOSE: closeIt ? '1' : '0' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    return new Promise((resolve) => {
      // Bounded even if the fixture never gets to probing (e.g. a broken import).
      let timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (!out.includes('probing')) return;
        clearTimeout(timer);
        timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code: signal === 'SIGKILL' ? null : code, out });
      });
    });
  }

  it('leaves no timer or socket behind: the process exits on its own with a probe in flight', async () => {
    const closed = await runFixture(true, 3000);
    assert.equal(closed.code, 0, `fixture output: ${closed.out}`);
    assert.match(closed.out, /probing/);
  });

  it('(control) without close() the same process keeps running', async () => {
    // The same 3 s grace: had the process exited within it, the test above could not fail.
    const open = await runFixture(false, 3000);
    assert.equal(open.code, null, `fixture exited with ${open.code}: ${open.out}`);
    assert.match(open.out, /probing/);
  });
});

describe('HealthChecker when this process is out of descriptors', () => {
  let tcpUp: SilentServer;
  let httpUp: ScriptedHealthServer;
  before(async () => {
    tcpUp = await startSilentServer(HOST);
    httpUp = await startHealthServer(HOST, [200]);
  });
  after(async () => {
    await Promise.all([tcpUp.close(), httpUp.close()]);
  });

  it('counts probes that cannot start (EMFILE) as local and marks no healthy node down', async () => {
    const fixture = fileURLToPath(new URL('./health-local.fixture.ts', import.meta.url));
    // Rejects, with the fixture's stderr, if it exits non-zero or runs past 20 s.
    const { stdout } = await execFileAsync(
      'prlimit',
      [
        '--nofile=64:64',
        process.execPath,
        '--import',
        'tsx',
        fixture,
        String(tcpUp.port),
        String(httpUp.port),
      ],
      { timeout: 20_000, killSignal: 'SIGKILL' },
    );
    const report = JSON.parse(stdout.trim()) as {
      changesWhileStarved: string[];
      local: number;
      taken: number;
    };
    assert.ok(report.taken > 0, 'the fixture took the descriptors it had left');
    assert.ok(report.local >= 4, `probes ended local: ${report.local}`);
    assert.deepEqual(report.changesWhileStarved, [], 'no state change while the process was starved');
  });
});
