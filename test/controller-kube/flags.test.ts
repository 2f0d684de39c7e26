/**
 * The Kubernetes-mode flags of `switchyard controller`: mistakes stop it at once with one line that
 * names the flag (exit 2, before anything binds or connects), and --no-leader-elect runs without a
 * Lease.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BIN } from '../cli/run-cli.ts';
import { ingressIps, TestCluster } from './kube-cluster.ts';

/** Run the controller with a bare environment: no KUBECONFIG, an empty HOME, not in a cluster. */
function runController(args: readonly string[], home: string): Promise<{ code: number; stderr: string }> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home };
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, 'controller', '--redis-url', 'redis://127.0.0.1:1', ...args],
      { env, timeout: 20_000, encoding: 'utf8' },
      (err, _stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
    );
  });
}

describe('switchyard controller Kubernetes-mode flags', { timeout: 90_000 }, () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'switchyard-home-'));
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const cases: { name: string; args: string[]; line: RegExp }[] = [
    {
      name: 'no kubeconfig anywhere',
      args: [],
      line: /^error: controller: --kubeconfig=\(missing\): no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG/m,
    },
    {
      name: 'a kubeconfig file that does not exist',
      args: ['--kubeconfig', '/nonexistent/kubeconfig'],
      line: /^error: controller: --kubeconfig=\/nonexistent\/kubeconfig: cannot load the kubeconfig/m,
    },
  ];
  for (const c of cases) {
    it(`exits 2 naming the flag for ${c.name}`, async () => {
      const r = await runController(c.args, home);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, c.line);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('reports a bad --kubeconfig as itself while the metrics port is taken: flags come before any bind', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as AddressInfo;
      const r = await runController(
        ['--kubeconfig', '/nonexistent/kubeconfig', '--metrics-address', `127.0.0.1:${port}`],
        home,
      );
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^error: controller: --kubeconfig=\/nonexistent\/kubeconfig: cannot load/m);
      assert.doesNotMatch(r.stderr, /already in use/);
    } finally {
      taken.close();
    }
  });

  describe('with a kubeconfig', () => {
    let cluster: TestCluster;
    before(async () => {
      cluster = await TestCluster.start();
    });
    after(async () => {
      await cluster?.close();
    });

    it('exits 2 naming the flag for a duration that does not parse, or timings in the wrong order', async () => {
      const bad = await runController(
        ['--kubeconfig', cluster.kubeconfig, '--leader-election-retry-period', 'soon'],
        home,
      );
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(
        bad.stderr,
        /^error: controller: --leader-election-retry-period="?soon"?: must be a duration/m,
      );
      const order = await runController(
        ['--kubeconfig', cluster.kubeconfig, '--leader-election-renew-deadline', '20s'],
        home,
      );
      assert.equal(order.code, 2, order.stderr);
      assert.match(
        order.stderr,
        /^error: controller: --leader-election-lease-duration=15s: must be more than renewDeadline/m,
      );
    });

    it('allocates without touching a Lease with --no-leader-elect', async () => {
      cluster.seedPool('solo', ['127.0.23.1/32']);
      cluster.seedService('solo', 'only');
      const controller = cluster.startController('solo', ['--no-leader-elect']);
      await cluster.writes.ingress.until((cs) => cs.length === 1, 'the Service allocated', 15_000);
      assert.deepEqual(ingressIps(cluster.service('solo', 'only')), ['127.0.23.1']);
      assert.equal(await controller.stop(), 0, controller.stderr);
      assert.equal(cluster.leaseHolder(), undefined, 'no Lease was created');
      assert.equal(cluster.server.requestCount(undefined, 'leases.coordination.k8s.io'), 0);
    });
  });
});
