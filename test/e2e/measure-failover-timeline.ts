/**
 * Where the failover time goes: kills the owner's speaker RUNS times (default 5) in the namespace
 * cluster and prints, per run, when the successor logged the takeover, the address, the table apply
 * and the announcement, and when the client's first new connection succeeded, all in ms after the
 * kill; then restarts the speaker and counts the client's failed connections while the VIP is
 * handed back to it. A measurement, not a test (it asserts nothing); needs root:
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
    const loop = c.client({ intervalMs: 50, maxAttempts: 600, maxMs: 30_000 });
    await loop.next((a) => a.ok, 5000, 'a connection before the kill');
    const successor = c.speakers.get(next)!;
    const seen = successor.lines.length;
    const killedAt = Date.now();
    await c.kill(c.speakers.get(PREFERRED)!);
    const back = await loop.next((a) => a.ok && a.s >= killedAt, 10_000, 'a connection after the kill');
    const steps = successor.lines
      .slice(seen)
      .map((l) => JSON.parse(l) as { event?: string; time: number })
      .filter((l) => EVENTS.includes(l.event ?? ''))
      .map((l) => `${l.event} +${l.time - killedAt}`);
    c.startSpeaker(PREFERRED);
    const restartedAt = Date.now();
    await c.converged(PREFERRED, 30_000);
    await c.kill(loop.proc);
    const handback = loop.attempts().filter((a) => a.s >= restartedAt);
    const failed = handback.filter((a) => !a.ok);
    const gap = failed.length > 0 ? failed.at(-1)!.t - failed[0]!.s : 0;
    console.log(
      `run ${i + 1}: ${steps.join(', ')}, client connected +${back.t - killedAt} ms; handback: ${failed.length} of ${handback.length} connections failed (${[...new Set(failed.map((a) => a.err))].join(',') || 'none'}) over ${gap} ms`,
    );
  }
} finally {
  await c.destroy();
}
