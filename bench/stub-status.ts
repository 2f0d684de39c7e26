/**
 * nginx's `stub_status` counters. The benchmark counts requests at the backend rather than trusting
 * the load generator's total, so the CPU window can start after warm-up and stop before wrk does.
 */
import { request } from 'node:http';

/** The counters nginx's stub_status page shows. */
export interface StubStatus {
  readonly active: number;
  readonly accepts: number;
  readonly handled: number;
  readonly requests: number;
}

/** Parse the stub_status page; null when it is not one. */
export function parseStubStatus(text: string): StubStatus | null {
  const active = /^Active connections:\s*(\d+)/m.exec(text);
  const counters = /^\s*(\d+)\s+(\d+)\s+(\d+)\s*$/m.exec(text);
  if (!active || !counters) return null;
  return {
    active: Number(active[1]),
    accepts: Number(counters[1]),
    handled: Number(counters[2]),
    requests: Number(counters[3]),
  };
}

/** Fetch and parse the stub_status page at `host:port/status`, failing after `timeoutMs`. */
export function fetchStubStatus(host: string, port: number, timeoutMs = 5000): Promise<StubStatus> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: '/status', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        const s = parseStubStatus(body);
        if (s) resolve(s);
        else
          reject(new Error(`nginx status page at ${host}:${port} is not stub_status: ${body.slice(0, 200)}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`nginx status at ${host}:${port} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
