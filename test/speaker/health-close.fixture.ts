/**
 * Child process for the close() test: start probing a silent HTTP target (probe stays in flight) and a
 * healthy one, then call close() when CLOSE=1. With nothing else holding the event loop, the process
 * exits on its own only if close() stopped every timer and socket.
 */
import { silentLogger } from '../../shared/log.ts';
import { HealthChecker } from '../../speaker/health/health-checker.ts';
import { target } from './health-servers.ts';

const [silentPort, upPort] = process.argv.slice(2).map(Number);
const timing = { intervalMs: 50, timeoutMs: 60_000, rise: 1, fall: 1 };
const hanging = target('hanging', '127.0.0.1', silentPort!, timing);
const up = target('up', '127.0.0.1', upPort!, timing);
const checker = new HealthChecker({ logger: silentLogger(), random: () => 0 });
checker.onChange((c) => {
  if (c.key !== up.key || c.state !== 'healthy') return;
  process.stdout.write('probing\n');
  if (process.env['CLOSE'] === '1') checker.close();
});
checker.setTargets([hanging, up]);
