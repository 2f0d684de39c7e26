import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTable, parseTableText } from '../../shared/table-parse.ts';

const good = {
  version: 3,
  listeners: [
    {
      service: 'default/web',
      vip: '127.0.0.10',
      port: 8080,
      backends: [{ node: 'a', address: '127.0.0.2', nodePort: 30080 }],
    },
  ],
};

function problemsOf(doc: unknown): { code: string; field: string; object: string; message: string }[] {
  const r = parseTable(doc, 'table.yaml');
  assert.equal(r.ok, false, 'expected the table to be refused');
  return r.ok ? [] : [...r.problems];
}

describe('parseTable', () => {
  it('fills defaults: round-robin, Cluster, kube-proxy /healthz on 10256, 2 s connect, 3 attempts', () => {
    const r = parseTable(good);
    assert.ok(r.ok);
    const l = r.value.listeners[0]!;
    assert.equal(r.value.version, 3);
    assert.equal(l.algorithm, 'round-robin');
    assert.equal(l.trafficPolicy, 'Cluster');
    assert.deepEqual(l.healthCheck, { type: 'http', port: 10256, path: '/healthz' });
    assert.equal(l.timeouts.connectMs, 2000);
    assert.equal(l.connectAttempts, 3);
    assert.equal(l.proxyProtocol, 'none');
  });

  it('probes the healthCheckNodePort for Local and TCP when kube-proxy health is off', () => {
    const local = parseTable({
      listeners: [{ ...good.listeners[0], externalTrafficPolicy: 'Local', healthCheckNodePort: 31999 }],
    });
    assert.ok(local.ok);
    assert.deepEqual(local.value.listeners[0]!.healthCheck, { type: 'http', port: 31999, path: '/healthz' });
    const tcp = parseTable({ defaults: { kubeProxyHealthPort: 0 }, listeners: good.listeners });
    assert.ok(tcp.ok);
    assert.deepEqual(tcp.value.listeners[0]!.healthCheck, { type: 'tcp' });
  });

  it('turns sessionAffinity ClientIP into source-hash picking and parses durations', () => {
    const r = parseTable({
      listeners: [
        { ...good.listeners[0], sessionAffinity: 'ClientIP', timeouts: { idle: '5m', connect: '500ms' } },
      ],
    });
    assert.ok(r.ok);
    assert.equal(r.value.listeners[0]!.algorithm, 'source-hash');
    assert.equal(r.value.listeners[0]!.timeouts.idleMs, 300_000);
    assert.equal(r.value.listeners[0]!.timeouts.connectMs, 500);
  });

  it('names listener, field and value for a bad VIP, port, algorithm and unknown field', () => {
    const ps = problemsOf({
      listeners: [
        { ...good.listeners[0], vip: '10.0.0.300', port: 70000, algorithm: 'random', colour: 'red' },
      ],
    });
    const byField = new Map(ps.map((p) => [p.field, p]));
    assert.equal(byField.get('listeners[0].vip')?.code, 'table.invalid-vip');
    assert.equal(byField.get('listeners[0].port')?.code, 'table.invalid-port');
    assert.equal(byField.get('listeners[0].algorithm')?.code, 'table.invalid-value');
    assert.equal(byField.get('listeners[0].colour')?.code, 'table.unknown-field');
    assert.match(byField.get('listeners[0].vip')!.object, /listener 0 \(default\/web\)/);
  });

  it('refuses a duplicate VIP:port listener, naming the first', () => {
    const ps = problemsOf({
      listeners: [good.listeners[0], { ...good.listeners[0], service: 'default/other' }],
    });
    assert.equal(ps.length, 1);
    assert.equal(ps[0]!.code, 'table.duplicate-listener');
    assert.match(ps[0]!.message, /listeners\[0\]/);
  });

  it('reports malformed YAML as one problem instead of throwing', () => {
    const r = parseTableText('listeners: [ {vip: ', 'bad.yaml');
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.problems[0]!.code, 'table.malformed');
  });
});
