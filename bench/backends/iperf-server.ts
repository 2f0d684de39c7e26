/** The bulk-stream backend: a one-off iperf3 server, started fresh for each measured stream. */
import { launch } from '../cpu-plan.ts';
import type { Child, ProcessSet } from '../processes.ts';

/** A listening iperf3 server that will take exactly one test and exit. */
export interface IperfServer {
  readonly child: Child;
  readonly host: string;
  readonly port: number;
}

/**
 * Start `iperf3 -s -1` on `host:port` and wait for its "Server listening" line. It is not probed by
 * connecting, because iperf3 would take the probe for a client.
 */
export async function startIperfServer(
  procs: ProcessSet,
  iperfPath: string,
  host: string,
  port: number,
  cpus: string | null,
): Promise<IperfServer> {
  const child = procs.spawn(
    'iperf3 server',
    launch([iperfPath, '-s', '-1', '-B', host, '-p', String(port), '--forceflush'], cpus),
  );
  await child.waitForLine(/Server listening/, 15_000);
  return { child, host, port };
}
