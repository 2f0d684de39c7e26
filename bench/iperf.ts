/** The iperf3 client and its JSON report. */
import { launch } from './cpu-plan.ts';
import type { ProcessSet } from './processes.ts';

/** What one iperf3 stream moved. */
export interface IperfReport {
  /** Bytes the receiver got. */
  readonly bytes: number;
  readonly seconds: number;
  readonly bitsPerSecond: number;
}

/** Parse `iperf3 -J` output; throws with iperf3's own error when the test failed. */
export function parseIperfJson(text: string): IperfReport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`iperf3 printed no JSON report: ${text.slice(0, 300)}`);
  }
  const d = doc as { error?: string; end?: { sum_received?: Record<string, unknown> } };
  if (typeof d.error === 'string') throw new Error(`iperf3: ${d.error}`);
  const r = d.end?.sum_received;
  const bytes = r?.['bytes'];
  const seconds = r?.['seconds'];
  const bps = r?.['bits_per_second'];
  if (typeof bytes !== 'number' || typeof seconds !== 'number' || typeof bps !== 'number') {
    throw new Error('iperf3 report has no end.sum_received bytes/seconds/bits_per_second');
  }
  return { bytes, seconds, bitsPerSecond: bps };
}

/** Run one `iperf3 -c` stream of `seconds` to `host:port` on `cpus`; bounded by its run time plus 20 s. */
export async function runIperfClient(
  procs: ProcessSet,
  iperfPath: string,
  host: string,
  port: number,
  seconds: number,
  cpus: string | null,
): Promise<IperfReport> {
  const argv = [
    iperfPath,
    '-c',
    host,
    '-p',
    String(port),
    '-t',
    String(seconds),
    '-J',
    '--connect-timeout',
    '5000',
  ];
  const child = procs.spawn('iperf3 client', launch(argv, cpus));
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), (seconds + 20) * 1000);
    });
    if ((await Promise.race([child.exited, late])) === 'late')
      throw new Error('iperf3 client did not finish');
    return parseIperfJson(child.output());
  } finally {
    clearTimeout(timer);
    await procs.stop(child);
  }
}
