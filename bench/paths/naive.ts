/** The `naive` path: bench/naive-proxy.ts, the pipe() proxy a Node user would write. */
import { join } from 'node:path';
import { launch } from '../cpu-plan.ts';
import type { BenchPath } from './path.ts';

/** Start the naive proxy on a fresh VIP; it reports its port when listening. */
export const naivePath: BenchPath = {
  name: 'naive',
  check: () => Promise.resolve(null),
  async start(env, setup) {
    const [vip] = env.vips.take(1);
    const argv = [
      env.node,
      '--import',
      'tsx',
      join(env.repoRoot, 'bench', 'naive-proxy.ts'),
      '--listen',
      `${vip}:0`,
      '--target',
      `${setup.backend.host}:${setup.backend.port}`,
    ];
    const child = env.procs.spawn('naive proxy', launch(argv, env.plan.proxy), { cwd: env.repoRoot });
    try {
      const m = await child.waitForLine(/^listening (\S+):(\d+)$/, 30_000);
      return {
        name: 'naive',
        front: { host: m[1]!, port: Number(m[2]) },
        pid: child.pid,
        stop: async () => {
          await env.procs.stop(child);
        },
      };
    } catch (err) {
      await env.procs.stop(child);
      throw err;
    }
  },
};
