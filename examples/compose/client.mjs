// The docker-compose demo's client: COUNT requests to TARGET, each on a new connection (a kept-alive
// connection would stay on one node and hide the balancing), printing who answered. Settings
// (environment): TARGET (http://172.29.0.200/), COUNT (10, at most 1000), INTERVAL_MS (500),
// TIMEOUT_MS (5000: longer than a speaker's 2 s connect timeout plus a retry on another node).
// Exits 0 when every request got a 200, 1 otherwise.
import { get } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';

const target = process.env.TARGET || 'http://172.29.0.200/';
const count = Math.min(Math.max(Number(process.env.COUNT ?? 10) || 0, 1), 1000);
const intervalMs = Math.max(Number(process.env.INTERVAL_MS ?? 500) || 0, 0);
const timeoutMs = Math.max(Number(process.env.TIMEOUT_MS ?? 5000) || 0, 1);

function once() {
  return new Promise((resolve) => {
    const req = get(target, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (body.length < 1024) body += chunk;
      });
      res.on('end', () => resolve({ ok: res.statusCode === 200, text: `${res.statusCode} ${body.trim()}` }));
      res.on('error', (err) => resolve({ ok: false, text: `error ${err.code ?? err.message}` }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => resolve({ ok: false, text: `error ${err.code ?? err.message}` }));
  });
}

let failures = 0;
for (let i = 1; i <= count; i++) {
  const r = await once();
  if (!r.ok) failures++;
  process.stdout.write(`${i} ${r.text}\n`);
  if (i < count && intervalMs > 0) await delay(intervalMs);
}
process.exitCode = failures === 0 ? 0 : 1;
