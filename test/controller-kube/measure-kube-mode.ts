/**
 * Measures the real `switchyard controller` binary in Kubernetes mode against the fake API server:
 * the time to allocate N Services end to end (process start to the last status write stored, and
 * from the start of leadership), and the time a standby takes to lead after the leader is killed
 * (SIGKILL: the Lease must expire) or stopped (SIGTERM: the Lease is released). Not a test (no
 * timing is asserted anywhere); run it by hand:
 *
 *   node --import tsx test/controller-kube/measure-kube-mode.ts [services=200] [rounds=3]
 */
import { FAST_LEASE, TestCluster } from './kube-cluster.ts';

const services = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 3);

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const allocation: { fromSpawn: number; fromLeading: number }[] = [];
const takeover: { kill: number; term: number }[] = [];
for (let round = 0; round < rounds; round++) {
  const cluster = await TestCluster.start();
  try {
    cluster.seedPool('big', ['127.0.40.0/22']);
    for (let i = 0; i < services; i++) cluster.seedService('many', `svc-${i}`, 1000 + i);
    const spawnedAt = Date.now();
    const a = cluster.startController(`a-${round}`, FAST_LEASE);
    await cluster.writes.ingress.until((cs) => cs.length >= services, 'every Service allocated', 120_000);
    const doneAt = Date.now();
    const leadingAt = Number(a.logs.events.find((l) => l.event === 'controller-leading')?.time);
    allocation.push({ fromSpawn: doneAt - spawnedAt, fromLeading: doneAt - leadingAt });

    // A standby, warm (synced), then the leader killed: it must wait out the Lease.
    const b = cluster.startController(`b-${round}`, FAST_LEASE);
    await b.logged('controller-synced');
    const killedAt = Date.now();
    await a.kill();
    await b.logged('controller-leading', 30_000);
    const killTakeover = Number(b.logs.events.find((l) => l.event === 'controller-leading')?.time) - killedAt;

    // A third replica, then the leader stopped cleanly: the released Lease is taken at the next try.
    const c = cluster.startController(`c-${round}`, FAST_LEASE);
    await c.logged('controller-synced');
    const stoppedAt = Date.now();
    await b.stop();
    await c.logged('controller-leading', 30_000);
    const termTakeover =
      Number(c.logs.events.find((l) => l.event === 'controller-leading')?.time) - stoppedAt;
    takeover.push({ kill: killTakeover, term: termTakeover });
    await c.stop();
  } finally {
    await cluster.close();
  }
}

console.log(
  JSON.stringify(
    {
      services,
      rounds,
      leaseFlags: FAST_LEASE.join(' '),
      allocateMsFromSpawn: allocation.map((x) => x.fromSpawn),
      allocateMsFromLeading: allocation.map((x) => x.fromLeading),
      takeoverMsAfterKill: takeover.map((x) => x.kill),
      takeoverMsAfterSigterm: takeover.map((x) => x.term),
      median: {
        allocateMsFromSpawn: median(allocation.map((x) => x.fromSpawn)),
        allocateMsFromLeading: median(allocation.map((x) => x.fromLeading)),
        takeoverMsAfterKill: median(takeover.map((x) => x.kill)),
        takeoverMsAfterSigterm: median(takeover.map((x) => x.term)),
      },
    },
    null,
    2,
  ),
);
