/**
 * Where the failover time goes: kills the owner's speaker RUNS times (default 5) in the namespace
 * cluster and prints, per run, when the successor logged the takeover, the address, the table apply
 * and the announcement, and when the client's first new connection succeeded, all in ms after the
 * kill. A measurement, not a test (it asserts nothing); needs root:
 *
 *   node --import tsx test/e2e/measure-failover-timeline.ts [RUNS]
 */
import { preferredOwner } from '../../speaker/ownership/rendezvous.ts';
import { NODES, PREFERRED, SwitchyardNetns, VIP } from './switchyard-netns.ts';

const RUNS = Math.min(20, Math.max(1, Number(process.argv[2] ?? 5)));
const EVENTS = ['vip-takeover', 'vip-gained', 'vip-address-added', 'table-applied', 'vip-announced'];

const c = await SwitchyardNetns.start();
try {
  await c.converged(PREFERRED, 30_000);
  const next = preferredOwner(
    VIP,
    NODES.filter((n) => n !== PREFERRED),
  )!;
  for (let i = 0; i < RUNS; i++) {
    const loop = c.client({ intervalMs: 50, maxAttempts: 400, maxMs: 15_000 });
    await loop.next((a) => a.ok, 5000, 'a connection before the kill');
    const successor = c.speakers.get(next)!;
    const seen = successor.lines.length;
    const killedAt = Date.now();
    await c.kill(c.speakers.get(PREFERRED)!);
    const back = await loop.next((a) => a.ok && a.s >= killedAt, 10_000, 'a connection after the kill');
    await c.kill(loop.proc);
    const steps = successor.lines
      .slice(seen)
      .map((l) => JSON.parse(l) as { event?: string; time: number })
      .filter((l) => EVENTS.includes(l.event ?? ''))
      .map((l) => `${l.event} +${l.time - killedAt}`);
    console.log(`run ${i + 1}: ${steps.join(', ')}, client connected +${back.t - killedAt} ms`);
    c.startSpeaker(PREFERRED);
    await c.converged(PREFERRED, 30_000);
  }
} finally {
  await c.destroy();
}
