/**
 * Which CPUs the proxy gets and which the load generator and backend get. On a shared machine the
 * proxy's CPU time per operation is the stable figure, and it is only comparable between proxies
 * when each proxy runs alone on its CPU(s) and does not fight wrk and nginx for them.
 */

/** CPU sets for `taskset -c`, or null where nothing is pinned. */
export interface CpuPlan {
  /** CPUs for the proxy under test. */
  readonly proxy: string | null;
  /** CPUs for the load generator and the backend server. */
  readonly load: string | null;
  /** Number of CPUs in `load` (wrk threads, nginx workers); 1 when unpinned. */
  readonly loadCount: number;
  /** Number of CPUs in `proxy`; 1 when unpinned. */
  readonly proxyCount: number;
  /** One line for the report saying how things were pinned. */
  readonly description: string;
}

function range(first: number, last: number): string {
  return first === last ? `${first}` : `${first}-${last}`;
}

/**
 * Split `cpus` CPUs: the proxy takes the first `proxyCpus` (capped at half, at least one), the load
 * the rest. With one CPU or no `taskset`, nothing is pinned and the plan says so.
 */
export function planCpus(cpus: number, tasksetAvailable: boolean, proxyCpus = 1): CpuPlan {
  if (cpus < 2 || !tasksetAvailable) {
    const why = cpus < 2 ? 'only one CPU' : 'taskset is not installed';
    return { proxy: null, load: null, loadCount: 1, proxyCount: 1, description: `not pinned (${why})` };
  }
  const p = Math.max(1, Math.min(proxyCpus, Math.floor(cpus / 2)));
  const proxy = range(0, p - 1);
  const load = range(p, cpus - 1);
  return {
    proxy,
    load,
    proxyCount: p,
    loadCount: cpus - p,
    description: `proxy on CPU ${proxy}, load generator and backend on CPU ${load}`,
  };
}

/**
 * The argv that runs `argv` on `cpus` with its soft open-file limit raised to the hard limit. Both
 * wrappers exec, so the PID the harness holds is the program itself.
 */
export function launch(argv: readonly string[], cpus: string | null): string[] {
  const raised = ['bash', '-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bench-launch', ...argv];
  return cpus === null ? raised : ['taskset', '-c', cpus, ...raised];
}
