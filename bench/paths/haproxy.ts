/** The `haproxy` path: HAProxy in TCP mode with one thread, the reference a user would compare with. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../addresses.ts';
import { launch } from '../cpu-plan.ts';
import { nofileHardLimit } from '../machine.ts';
import { waitForPort } from '../net-wait.ts';
import { haproxyMaxconn, renderHaproxyConfig } from './haproxy-config.ts';
import type { BenchPath } from './path.ts';

let configs = 0;

/** Start HAProxy with one frontend per listener on fresh VIPs. */
export const haproxyPath: BenchPath = {
  name: 'haproxy',
  check: (env) => Promise.resolve(env.tools['haproxy'] ? null : 'haproxy is not installed'),
  async start(env, setup) {
    const haproxy = env.tools['haproxy'];
    if (!haproxy) throw new Error('haproxy is not installed');
    const vips = env.vips.take(setup.listeners);
    const port = await freePort(vips[0]!);
    const cfg = join(env.dir, `haproxy-${configs++}.cfg`);
    await writeFile(
      cfg,
      renderHaproxyConfig({
        frontends: vips.map((host) => ({ host, port })),
        backend: setup.backend,
        healthPort: setup.health.port,
        maxconn: haproxyMaxconn(setup.maxConnections + 100, nofileHardLimit(), setup.listeners),
        threads: 1,
      }),
    );
    // -db: stay in the foreground as one process, so the PID held is the one doing the work.
    const child = env.procs.spawn('haproxy', launch([haproxy, '-db', '-f', cfg], env.plan.proxy));
    try {
      await waitForPort(vips[0]!, port, child, 30_000);
    } catch (err) {
      await env.procs.stop(child);
      throw err;
    }
    return {
      name: 'haproxy',
      front: { host: vips[0]!, port },
      pid: child.pid,
      stop: async () => {
        await env.procs.stop(child);
      },
    };
  },
};
