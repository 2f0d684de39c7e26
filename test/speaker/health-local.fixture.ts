/**
 * Child process for the local-shortage test, run under a small RLIMIT_NOFILE: probe a healthy TCP
 * target and a healthy HTTP target until both are healthy, then take every descriptor this process
 * has left and keep probing for at least `fall` × 6 intervals and six probes. Prints one JSON line: the state changes seen
 * while starved, how many probes ended `local`, and how many descriptors were taken.
 */
import { closeSync, openSync } from 'node:fs';
import { Registry } from 'prom-client';
import { silentLogger } from '../../shared/log.ts';
import { HealthChecker } from '../../speaker/health/health-checker.ts';
import type { HealthState } from '../../speaker/health/health-target.ts';
import { target } from './health-servers.ts';

const [tcpPort, httpPort] = process.argv.slice(2).map(Number);
const timing = { intervalMs: 50, timeoutMs: 1000, rise: 1, fall: 2 };
const tcp = target('n1', '127.0.0.1', tcpPort!, timing, { type: 'tcp' });
const http = target('n2', '127.0.0.1', httpPort!, timing);
const registry = new Registry();
const checker = new HealthChecker({ logger: silentLogger(), registry, random: () => 0.5 });
const states = new Map<string, HealthState>();
const changesWhileStarved: string[] = [];
let starved = false;

/** Open /dev/null until the limit refuses: every descriptor this process may still open. */
function takeEveryDescriptor(): number[] {
  const fds: number[] = [];
  for (let i = 0; i < 100_000; i++) {
    try {
      fds.push(openSync('/dev/null', 'r'));
    } catch {
      break;
    }
  }
  return fds;
}

async function localProbes(): Promise<number> {
  const metric = await registry.getSingleMetric('switchyard_health_checks_total')?.get();
  return (metric?.values ?? [])
    .filter((v) => v.labels['result'] === 'local')
    .reduce((a, v) => a + v.value, 0);
}

checker.onChange((c) => {
  states.set(c.key, c.state);
  if (starved) changesWhileStarved.push(`${c.key}=${c.state}`);
  if (!starved && states.get(tcp.key) === 'healthy' && states.get(http.key) === 'healthy') {
    starved = true;
    const fds = takeEveryDescriptor();
    // Starved for at least `fall` × 6 intervals, and until six probes ended `local` (three per
    // target, more than `fall` would need to mark each down): on a loaded machine the probes come
    // later than their interval, so time alone does not say enough of them ran. Bounded: 10 s.
    const until = Date.now() + 10_000;
    const minimum = Date.now() + timing.fall * timing.intervalMs * 6;
    const report = async (): Promise<void> => {
      const local = await localProbes();
      if ((Date.now() < minimum || local < 6) && Date.now() < until) {
        setTimeout(() => void report(), timing.intervalMs);
        return;
      }
      for (const fd of fds) closeSync(fd);
      checker.close();
      process.stdout.write(`${JSON.stringify({ changesWhileStarved, local, taken: fds.length })}\n`);
    };
    setTimeout(() => void report(), timing.intervalMs);
  }
});
checker.setTargets([tcp, http]);
