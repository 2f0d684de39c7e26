import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../shared/log.ts';
import { L2Announcer, type L2Options } from '../../speaker/announce/l2-announcer.ts';
import { NetnsCluster } from '../harness/netns.ts';

const VIP = '198.18.0.100';
const VIP6 = '2001:2::100';

/** MACs that answered an ARP request for `ip` from `host`, via arping. */
async function arpAnswers(cluster: NetnsCluster, host: string, ip: string): Promise<string[]> {
  const r = await cluster.runner(host)('arping', ['-c', '2', '-w', '2', '-i', 'eth0', ip]);
  return [...r.stdout.matchAll(/bytes from ([0-9a-f:]{17})/g)].map((m) => m[1]!);
}

/** Whether `host`'s eth0 carries `ip` now. */
async function hasAddress(cluster: NetnsCluster, host: string, ip: string): Promise<boolean> {
  const r = await cluster.runner(host)('ip', ['-o', 'addr', 'show', 'dev', 'eth0']);
  return r.stdout.includes(` ${ip}/`);
}

/** Poll the client's neighbour entry for `vip` until it names `mac`; the ms it took (bounded). */
async function entryBecomes(
  cluster: NetnsCluster,
  mac: string,
  timeoutMs: number,
  vip = VIP,
): Promise<number> {
  const start = performance.now();
  let entry = '';
  while (performance.now() - start < timeoutMs) {
    entry = (await cluster.runner('client')('ip', ['neigh', 'show', vip, 'dev', 'eth0'])).stdout;
    if (entry.includes(mac)) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the client's entry for ${vip} never named ${mac}: ${entry}`);
}

async function macOf(cluster: NetnsCluster, host: string): Promise<string> {
  const r = await cluster.runner(host)('cat', ['/sys/class/net/eth0/address']);
  return r.stdout.trim();
}

/** An announcer in `host`: one ARP 100 ms apart, a long address lifetime unless a test is about it. */
function announcer(cluster: NetnsCluster, host: string, opts: Partial<L2Options> = {}): L2Announcer {
  return new L2Announcer({
    interface: 'eth0',
    run: cluster.runner(host),
    startChild: cluster.lineChildren(host),
    lifetimeS: 60,
    logger: silentLogger(),
    burstCount: 1,
    burstIntervalMs: 100,
    ...opts,
  });
}

describe('L2Announcer in a namespace cluster', { timeout: 60_000 }, () => {
  let cluster: NetnsCluster;
  before(async () => {
    cluster = await NetnsCluster.create(['client', 'n1', 'n2'], { ipv6: true });
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('makes the VIP answer ARP from the owner only, and stops when withdrawn', async () => {
    const a = announcer(cluster, 'n1');
    await a.start();
    await a.announce(VIP);
    assert.deepEqual(
      new Set(await arpAnswers(cluster, 'client', VIP)),
      new Set([await macOf(cluster, 'n1')]),
    );
    await a.withdraw(VIP);
    assert.deepEqual(await arpAnswers(cluster, 'client', VIP), []);
    await a.close();
  });

  it('moves the client neighbour entry to the new owner with a gratuitous ARP', async () => {
    const a1 = announcer(cluster, 'n1');
    const a2 = announcer(cluster, 'n2');
    const client = cluster.runner('client');
    const neigh = async () => (await client('ip', ['neigh', 'show', VIP, 'dev', 'eth0'])).stdout;
    try {
      await a1.announce(VIP);
      // A TCP connect makes the client's kernel resolve and cache n1's MAC, as a real client would.
      await client('bash', ['-c', `exec 3<>/dev/tcp/${VIP}/9 || true`]);
      assert.match(await neigh(), new RegExp(await macOf(cluster, 'n1')));
      await a1.withdraw(VIP);
      // A lease's fence, as the speaker passes it: ms left on performance.now(), with a fraction.
      const deadline = performance.now() + 60_000;
      await a2.announce(VIP, () => deadline - performance.now());
      const n2mac = await macOf(cluster, 'n2');
      let entry = '';
      for (let i = 0; i < 40 && !entry.includes(n2mac); i++) {
        entry = await neigh();
        if (!entry.includes(n2mac)) await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(entry, new RegExp(n2mac), 'the gratuitous ARP from n2 replaced the cached MAC');
    } finally {
      await a1.close();
      await a2.close();
    }
  });

  it('repeats the gratuitous ARP while it owns the VIP, so a client whose cache missed the burst converges', async () => {
    const a = announcer(cluster, 'n1', { repeatMs: 400 });
    const client = cluster.runner('client');
    const n1mac = await macOf(cluster, 'n1');
    const n2mac = await macOf(cluster, 'n2');
    try {
      await a.announce(VIP);
      // Let the burst's one ARP land (arping is spawned); then the client's entry points elsewhere,
      // as one that missed the burst would, and only a repeat can fix it.
      await new Promise((r) => setTimeout(r, 250));
      await client('ip', ['neigh', 'replace', VIP, 'lladdr', n2mac, 'dev', 'eth0', 'nud', 'stale']);
      const ms = await entryBecomes(cluster, n1mac, 3000);
      console.log(
        `l2: a client entry that missed the burst pointed at the owner again after ${Math.round(ms)} ms`,
      );
    } finally {
      await a.close();
      await client('ip', ['neigh', 'flush', 'dev', 'eth0']);
    }
  });

  it('sends no gratuitous ARP once the fence has passed, however late arping would start', async () => {
    const a = announcer(cluster, 'n1');
    const client = cluster.runner('client');
    const n2mac = await macOf(cluster, 'n2');
    try {
      await a.addAddress(VIP);
      await client('ip', ['neigh', 'replace', VIP, 'lladdr', n2mac, 'dev', 'eth0', 'nud', 'stale']);
      // The fence holds when advertise asks (1 ms left), and has passed when arping would start.
      a.advertise(VIP, () => 1);
      await new Promise((r) => setTimeout(r, 800));
      const entry = (await client('ip', ['neigh', 'show', VIP, 'dev', 'eth0'])).stdout;
      assert.match(entry, new RegExp(n2mac), `no gratuitous ARP moved the entry: ${entry}`);
    } finally {
      await a.close();
      await client('ip', ['neigh', 'flush', 'dev', 'eth0']);
    }
  });

  it("moves a client's IPv6 neighbour entry to the new owner with an unsolicited neighbour advertisement", async () => {
    const a = announcer(cluster, 'n1');
    const client = cluster.runner('client');
    const n1mac = await macOf(cluster, 'n1');
    const n2mac = await macOf(cluster, 'n2');
    try {
      // The client still points at the old owner, as one that spoke to the VIP before a failover.
      await client('ip', [
        '-6',
        'neigh',
        'replace',
        VIP6,
        'lladdr',
        n2mac,
        'dev',
        'eth0',
        'nud',
        'reachable',
      ]);
      const deadline = performance.now() + 60_000;
      await a.announce(VIP6, () => deadline - performance.now());
      const ms = await entryBecomes(cluster, n1mac, 3000, VIP6);
      console.log(
        `l2: the client's IPv6 entry named the new owner ${Math.round(ms)} ms after the announcement`,
      );
    } finally {
      await a.close();
      await client('ip', ['-6', 'neigh', 'flush', 'dev', 'eth0']);
    }
  });

  it('sends no unsolicited neighbour advertisement once the fence has passed', async () => {
    const a = announcer(cluster, 'n1');
    const client = cluster.runner('client');
    const n2mac = await macOf(cluster, 'n2');
    try {
      await a.addAddress(VIP6);
      await client('ip', ['-6', 'neigh', 'replace', VIP6, 'lladdr', n2mac, 'dev', 'eth0', 'nud', 'stale']);
      a.advertise(VIP6, () => 1);
      await new Promise((r) => setTimeout(r, 800));
      const entry = (await client('ip', ['-6', 'neigh', 'show', VIP6, 'dev', 'eth0'])).stdout;
      assert.match(entry, new RegExp(n2mac), `no advertisement moved the entry: ${entry}`);
    } finally {
      await a.close();
      await client('ip', ['-6', 'neigh', 'flush', 'dev', 'eth0']);
    }
  });

  it('never sends ARP or adds the VIP when the lease cannot be proven', async () => {
    const a = announcer(cluster, 'n1');
    await a.announce(VIP, () => 0);
    assert.equal(a.announced().size, 0);
    assert.deepEqual(await arpAnswers(cluster, 'client', VIP), []);
  });

  it('removes VIP addresses left by a crashed earlier run on start, and only those', async () => {
    const run = cluster.runner('n1');
    await run('ip', ['addr', 'add', '198.18.0.101/32', 'dev', 'eth0', 'label', 'eth0:sy']);
    await run('ip', ['addr', 'add', '198.18.0.102/32', 'dev', 'eth0']);
    await announcer(cluster, 'n1').start();
    const shown = (await run('ip', ['-4', 'addr', 'show', 'dev', 'eth0'])).stdout;
    assert.doesNotMatch(shown, /198\.18\.0\.101/);
    assert.match(shown, /198\.18\.0\.102/, 'an address the speaker did not add is left alone');
    await run('ip', ['addr', 'del', '198.18.0.102/32', 'dev', 'eth0']);
  });

  it('leaves the VIP to the kernel, which removes it and stops answering ARP once nothing renews its lifetime', async () => {
    const a = announcer(cluster, 'n1', { lifetimeS: 1 });
    try {
      await a.start();
      await a.announce(VIP);
      const added = performance.now();
      assert.ok(await hasAddress(cluster, 'n1', VIP), 'the address is there at first');
      // The process is "dead" from here: nothing calls keepAlive. Bounded poll: at most 3 s.
      while ((await hasAddress(cluster, 'n1', VIP)) && performance.now() - added < 3000) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const goneMs = performance.now() - added;
      console.log(
        `l2: a 1 s VIP address left unrenewed was removed by the kernel after ${Math.round(goneMs)} ms`,
      );
      assert.ok(goneMs >= 900 && goneMs < 2000, `removed after ${Math.round(goneMs)} ms`);
      assert.deepEqual(await arpAnswers(cluster, 'client', VIP), [], 'nobody answers ARP for it');
    } finally {
      await a.close();
    }
  });

  it('keeps a VIP alive while keepAlive renews its lifetime, and puts back an address deleted by hand', async () => {
    const a = announcer(cluster, 'n1', { lifetimeS: 1 });
    const run = cluster.runner('n1');
    try {
      await a.start();
      await a.announce(VIP);
      const renewing = setInterval(() => a.keepAlive([VIP]), 250);
      try {
        // Three lifetimes of renewals: the address never goes.
        for (let i = 0; i < 15; i++) {
          assert.ok(await hasAddress(cluster, 'n1', VIP), `present at sample ${i}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        await run('ip', ['addr', 'del', `${VIP}/32`, 'dev', 'eth0']);
        const deleted = performance.now();
        while (!(await hasAddress(cluster, 'n1', VIP)) && performance.now() - deleted < 3000) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const backMs = performance.now() - deleted;
        console.log(`l2: a VIP address deleted by hand was back after ${Math.round(backMs)} ms`);
        assert.ok(backMs < 1000, `back after ${Math.round(backMs)} ms`);
      } finally {
        clearInterval(renewing);
      }
    } finally {
      await a.close();
    }
  });

  it('never lets a renewal queued before a withdraw bring the address back', async () => {
    const a = announcer(cluster, 'n1', { lifetimeS: 5 });
    try {
      await a.start();
      await a.announce(VIP);
      a.keepAlive([VIP]);
      await a.withdraw(VIP);
      for (let i = 0; i < 5; i++) {
        assert.equal(await hasAddress(cluster, 'n1', VIP), false, `absent at sample ${i}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await a.close();
    }
  });

  it('refuses to start with a clear error when the interface does not exist', async () => {
    const a = announcer(cluster, 'n1', { interface: 'nosuch0' });
    await assert.rejects(a.start(), /nosuch0.*no such interface/s);
  });
});
