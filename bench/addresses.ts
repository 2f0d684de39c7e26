/**
 * The loopback addresses the benchmark uses. Everything stays inside 127.0.0.0/8; the bench takes
 * its own /16s so its listeners do not meet those of tests running beside it, and Linux answers on
 * every 127.x address without configuration.
 */
import { createServer } from 'node:net';

/** Where nginx, iperf3 and the idle sink listen. */
export const BACKEND_HOST = '127.0.0.1';

/** Source addresses the idle client spreads its connections over, so no 4-tuple space runs short. */
export const IDLE_CLIENT_SOURCES: readonly string[] = Array.from(
  { length: 8 },
  (_, i) => `127.78.0.${i + 1}`,
);

/** Hands out distinct VIPs from 127.77.0.0/16, one per listener, for the whole run. */
export class VipPool {
  private next = 0;

  /** `count` fresh addresses. Throws past the /16, which no scenario comes near. */
  take(count: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < count; i++, this.next++) {
      // 250 hosts per third octet keeps .0 and .255 out of the set.
      const third = Math.floor(this.next / 250);
      if (third > 255) throw new Error('the bench VIP range 127.77.0.0/16 is used up');
      out.push(`127.77.${third}.${(this.next % 250) + 1}`);
    }
    return out;
  }
}

/** A port that was free on `host` a moment ago (bind to port 0, read it, close). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port on ${host}`))));
    });
  });
}
