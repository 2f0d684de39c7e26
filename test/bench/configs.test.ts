import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderNginxConfig } from '../../bench/backends/nginx.ts';
import { haproxyMaxconn, renderHaproxyConfig } from '../../bench/paths/haproxy-config.ts';
import { PROXY_SETTINGS } from '../../bench/paths/path.ts';
import { renderSpeakerTable } from '../../bench/paths/speaker-table.ts';
import { parseTableText } from '../../shared/table-parse.ts';

const backend = { host: '127.0.0.1', port: 18080 };

describe('renderSpeakerTable', () => {
  it('produces a table the real parser accepts, one listener per VIP with the bench timeouts', () => {
    const vips = ['127.77.0.1', '127.77.0.2', '127.77.0.3'];
    const r = parseTableText(renderSpeakerTable(vips, 9000, backend, 18081), 'bench table');
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.problems));
    assert.deepEqual(
      r.value.listeners.map((l) => `${l.vip}:${l.port}`),
      vips.map((v) => `${v}:9000`),
    );
    const l = r.value.listeners[0]!;
    assert.deepEqual(l.backends, [{ node: 'bench-node', address: '127.0.0.1', nodePort: 18080 }]);
    assert.deepEqual(l.healthCheck, { type: 'http', port: 18081, path: '/healthz' });
    assert.equal(l.timeouts.connectMs, PROXY_SETTINGS.connectTimeoutMs);
    assert.equal(l.timeouts.idleMs, PROXY_SETTINGS.idleTimeoutMs);
    assert.equal(l.timeouts.halfClosedMs, PROXY_SETTINGS.halfClosedTimeoutMs);
    assert.equal(l.connectAttempts, PROXY_SETTINGS.connectAttempts);
    assert.equal(l.healthTiming.intervalMs, PROXY_SETTINGS.healthIntervalMs);
  });
});

describe('renderHaproxyConfig', () => {
  const cfg = renderHaproxyConfig({
    frontends: [
      { host: '127.77.0.1', port: 9000 },
      { host: '127.77.0.2', port: 9000 },
    ],
    backend,
    healthPort: 18081,
    maxconn: 9967,
    threads: 1,
  });

  it('runs one thread in TCP mode without kernel splicing', () => {
    assert.match(cfg, /^\s+nbthread 1$/m);
    assert.match(cfg, /^\s+mode tcp$/m);
    assert.match(cfg, /^\s+nosplice$/m);
    for (const opt of ['splice-auto', 'splice-request', 'splice-response']) {
      assert.match(cfg, new RegExp(`^\\s+no option ${opt}$`, 'm'));
    }
  });

  it('uses the speaker table timeouts, retries and an HTTP /healthz check on the health port', () => {
    assert.match(cfg, new RegExp(`timeout connect ${PROXY_SETTINGS.connectTimeoutMs}ms`));
    assert.match(cfg, new RegExp(`timeout client ${PROXY_SETTINGS.idleTimeoutMs}ms`));
    assert.match(cfg, new RegExp(`timeout server-fin ${PROXY_SETTINGS.halfClosedTimeoutMs}ms`));
    assert.match(cfg, new RegExp(`retries ${PROXY_SETTINGS.connectAttempts - 1}`));
    assert.match(cfg, /option httpchk GET \/healthz/);
    assert.match(cfg, /server node-0 127\.0\.0\.1:18080 check port 18081 /);
  });

  it('binds one frontend per listener, all sharing one backend', () => {
    assert.equal((cfg.match(/^frontend /gm) ?? []).length, 2);
    assert.match(cfg, /bind 127\.77\.0\.2:9000/);
    assert.equal((cfg.match(/^backend /gm) ?? []).length, 1);
    assert.match(cfg, /^\s+maxconn 9967$/m);
  });
});

describe('haproxyMaxconn', () => {
  it('stays under what a 20,000 open-file limit lets HAProxy start with', () => {
    const m = haproxyMaxconn(10_050, 20_000, 1);
    assert.ok(m < 10_000 && 2 * m + 64 <= 20_000, `maxconn ${m}`);
    assert.ok(haproxyMaxconn(10_050, 20_000, 1000) < m, 'frontends take descriptors too');
    assert.equal(haproxyMaxconn(10_050, null, 1), 10_050);
  });
});

describe('renderNginxConfig', () => {
  it('answers 200 "ok", keeps connections alive without the 1000-request cap and serves stub_status', () => {
    const cfg = renderNginxConfig({
      dir: '/tmp/x',
      host: '127.0.0.1',
      port: 18080,
      statusPort: 18079,
      workers: 1,
      workerConnections: 19_900,
    });
    assert.match(cfg, /return 200 "ok"/);
    assert.match(cfg, /keepalive_requests 100000000;/);
    assert.match(cfg, /master_process off;/);
    assert.match(cfg, /listen 127\.0\.0\.1:18079;\s+location = \/status \{ stub_status; \}/);
    assert.match(cfg, /access_log off;/);
  });
});
