import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readService } from '../../controller/services/service.ts';
import { request, type ServiceSpec, service } from './objects.ts';

function problemsOf(spec: ServiceSpec, key = 'default/s') {
  const r = readService(service(key, spec), {});
  assert.equal(r.kind, 'invalid', 'expected the Service to be refused');
  return r.kind === 'invalid' ? r.problems : [];
}

describe('readService', () => {
  it('ignores Services that are not LoadBalancers, and other classes unless asked for', () => {
    assert.equal(readService(service('s', { type: 'ClusterIP' }), {}).kind, 'ignored');
    assert.equal(readService(service('s', { lbClass: 'other.io/lb' }), {}).kind, 'ignored');
    assert.equal(
      readService(service('s', { lbClass: 'x.io/lb' }), {}, { lbClass: 'x.io/lb' }).kind,
      'request',
    );
    assert.equal(readService(service('s'), {}, { lbClass: 'x.io/lb' }).kind, 'ignored');
  });

  it('reads ports, sharing key, pool, traffic policy and a canonical selector', () => {
    const r = request('ns1/web', {
      ports: [80, [53, 'UDP']],
      shareKey: 'k',
      pool: 'prod',
      etp: 'Local',
      selector: { tier: 'front', app: 'web' },
      labels: { app: 'web' },
      status: ['192.0.2.1'],
    });
    assert.equal(r.key, 'ns1/web');
    assert.deepEqual(r.ports, [
      { protocol: 'TCP', port: 80 },
      { protocol: 'UDP', port: 53 },
    ]);
    assert.equal(r.sharingKey, 'k');
    assert.equal(r.pool, 'prod');
    assert.equal(r.backendKey, 'Local:app=web,tier=front');
    assert.deepEqual(r.namespaceLabels, { 'kubernetes.io/metadata.name': 'ns1' });
    assert.deepEqual(
      r.currentIps.map((i) => i.text),
      ['192.0.2.1'],
    );
  });

  it('refuses spec.loadBalancerIP together with the loadBalancerIPs annotation', () => {
    const ps = problemsOf({ loadBalancerIP: '192.0.2.1', ips: '192.0.2.1' });
    assert.equal(ps[0]?.code, 'service.conflicting-ip-request');
    assert.equal(ps[0]?.object, 'Service default/s');
  });

  it('reads one requested IP per family and refuses two of one family or junk', () => {
    const r = request('s', {
      ips: '2001:db8::1, 192.0.2.1',
      policy: 'RequireDualStack',
      families: ['IPv4', 'IPv6'],
    });
    assert.deepEqual(
      r.requestedIps.map((i) => i.text),
      ['2001:db8::1', '192.0.2.1'],
    );
    assert.deepEqual(r.families, [4, 6]);
    assert.equal(problemsOf({ ips: '192.0.2.1,192.0.2.2' })[0]?.code, 'service.duplicate-family');
    assert.equal(problemsOf({ ips: '192.0.2.x' })[0]?.code, 'service.invalid-ip');
  });

  it('refuses a requested IP of a family the Service does not have, and half a RequireDualStack pair', () => {
    assert.equal(problemsOf({ ips: '2001:db8::1', families: ['IPv4'] })[0]?.code, 'service.family-mismatch');
    const half = problemsOf({ ips: '192.0.2.1', policy: 'RequireDualStack', families: ['IPv4', 'IPv6'] });
    assert.equal(half[0]?.code, 'service.family-mismatch');
    assert.match(half[0]!.message, /RequireDualStack needs one IPv4 and one IPv6/);
  });

  it('takes families from ipFamilies, else clusterIPs, else the requested IPs, else IPv4', () => {
    assert.deepEqual(request('s', { families: ['IPv6'] }).families, [6]);
    const fromClusterIps = service('s', { policy: 'PreferDualStack' });
    fromClusterIps.spec!.clusterIPs = ['fd00::10', '10.96.0.10'];
    const r = readService(fromClusterIps, {});
    assert.ok(r.kind === 'request');
    assert.deepEqual(r.request.families, [6, 4]);
    assert.deepEqual(request('s', { ips: '2001:db8::1' }).families, [6]);
    assert.deepEqual(request('s').families, [4]);
    assert.deepEqual(request('s', { policy: 'RequireDualStack' }).families, [4, 6]);
    assert.deepEqual(request('s', { policy: 'PreferDualStack', families: ['IPv4'] }).families, [4]);
  });

  it('honours MetalLB annotation spellings with a warning naming the replacement', () => {
    const r = readService(
      service('s', {
        annotations: {
          'metallb.universe.tf/address-pool': 'old',
          'metallb.io/allow-shared-ip': 'k',
          'metallb.io/loadBalancerIPs': '192.0.2.5',
        },
      }),
      {},
    );
    assert.ok(r.kind === 'request');
    assert.equal(r.request.pool, 'old');
    assert.equal(r.request.sharingKey, 'k');
    assert.deepEqual(
      r.request.requestedIps.map((i) => i.text),
      ['192.0.2.5'],
    );
    assert.equal(r.warnings.length, 3);
    for (const w of r.warnings) assert.equal(w.code, 'service.deprecated-annotation');
    assert.ok(
      r.warnings.some((w) => /rename the annotation to switchyard\.io\/address-pool/.test(w.message)),
    );
  });

  it('prefers the switchyard.io spelling when both are set and says the other is ignored', () => {
    const r = readService(
      service('s', { pool: 'new', annotations: { 'metallb.universe.tf/address-pool': 'old' } }),
      {},
    );
    assert.ok(r.kind === 'request');
    assert.equal(r.request.pool, 'new');
    assert.match(r.warnings[0]!.message, /ignored because switchyard\.io\/address-pool is also set/);
  });

  it('refuses a bad ipFamilyPolicy, externalTrafficPolicy or port', () => {
    const svc = service('s', { ports: [70000] });
    svc.spec!.ipFamilyPolicy = 'Sometimes';
    svc.spec!.externalTrafficPolicy = 'Nearby';
    const r = readService(svc, {});
    assert.ok(r.kind === 'invalid');
    assert.deepEqual(r.problems.map((p) => p.code).sort(), [
      'service.invalid-ip-family-policy',
      'service.invalid-port',
      'service.invalid-traffic-policy',
    ]);
  });

  it('does not mutate the Service it reads', () => {
    const svc = service('s', { ips: '192.0.2.1', labels: { a: 'b' }, status: ['192.0.2.1'] });
    const copy = structuredClone(svc);
    readService(svc, { env: 'prod' });
    assert.deepEqual(svc, copy);
  });
});
