import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  V1EndpointSlice,
  V1Node,
  V1ObjectMeta,
  V1Service,
  V1ServicePort,
  V1ServiceSpec,
} from '@kubernetes/client-node';
import fc from 'fast-check';
import {
  type CompileInput,
  type CompileOptionsInput,
  compileTable,
  resolveCompileOptions,
} from '../../controller/table/compiler.ts';
import { type Listener, listenerKey } from '../../shared/model.ts';
import { parseTable } from '../../shared/table-parse.ts';
import { renderTable } from '../../shared/table-render.ts';
import { service } from '../harness/service.ts';

// ---- fixtures -------------------------------------------------------------------------------

const HTTP: V1ServicePort = { name: 'http', port: 80, nodePort: 30080 };

function svc(name: string, spec: Partial<V1ServiceSpec> = {}, meta: Partial<V1ObjectMeta> = {}): V1Service {
  return service(name, { ports: [HTTP], extraSpec: spec, extraMetadata: meta });
}

function annotated(
  name: string,
  annotations: Record<string, string>,
  spec: Partial<V1ServiceSpec> = {},
): V1Service {
  return svc(name, spec, { annotations });
}

function node(
  name: string,
  addresses: string[],
  opts: { ready?: 'True' | 'False' | 'Unknown' | null; labels?: Record<string, string> } = {},
): V1Node {
  const ready = opts.ready === undefined ? 'True' : opts.ready;
  return {
    metadata: { name, ...(opts.labels ? { labels: opts.labels } : {}) },
    status: {
      conditions: ready === null ? [] : [{ type: 'Ready', status: ready }],
      addresses: [
        { type: 'Hostname', address: name },
        ...addresses.map((address) => ({ type: 'InternalIP', address })),
      ],
    },
  };
}

function slice(
  service: string,
  endpoints: { node?: string; ready?: boolean }[],
  namespace = 'default',
): V1EndpointSlice {
  return {
    metadata: { name: `${service}-abc`, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e, i) => ({
      addresses: [`10.244.0.${i + 1}`],
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
    })),
  };
}

const THREE_NODES = [
  node('node-c', ['127.0.20.3']),
  node('node-a', ['127.0.20.1']),
  node('node-b', ['127.0.20.2']),
];
const ALL_THREE =
  '127.0.10.1:80/TCP -> [node-a@127.0.20.1:30080 node-b@127.0.20.2:30080 node-c@127.0.20.3:30080]';

/** A listener in one line: key and backends in table order. */
function summary(l: Listener): string {
  return `${listenerKey(l)} -> [${l.backends.map((b) => `${b.node}@${b.address}:${b.nodePort}`).join(' ')}]`;
}

interface Row {
  name: string;
  services: V1Service[];
  assignments?: Record<string, string[]>;
  nodes?: V1Node[];
  slices?: V1EndpointSlice[];
  options?: CompileOptionsInput;
  /** Every listener, in order, as `summary` writes it. */
  listeners?: string[];
  /** Fields every listener must have. */
  fields?: Partial<Listener>;
  /** Exactly the problems expected, as `code field`. */
  problems?: string[];
}

function run(row: Row) {
  return compileTable({
    services: row.services,
    assignments: new Map(Object.entries(row.assignments ?? { 'default/web': ['127.0.10.1'] })),
    nodes: row.nodes ?? THREE_NODES,
    endpointSlices: row.slices ?? [],
    ...(row.options ? { options: row.options } : {}),
  });
}

function check(row: Row): void {
  const { table, problems } = run(row);
  if (row.listeners) assert.deepEqual(table.listeners.map(summary), row.listeners, 'listeners');
  for (const l of table.listeners) {
    for (const [k, v] of Object.entries(row.fields ?? {})) {
      assert.deepEqual(l[k as keyof Listener], v, `${listenerKey(l)} ${k}`);
    }
  }
  assert.deepEqual(
    problems.map((p) => `${p.code} ${p.field}`),
    row.problems ?? [],
    `problems: ${JSON.stringify(problems, null, 1)}`,
  );
}

function table(rows: Row[]): void {
  for (const row of rows) it(row.name, () => check(row));
}

// ---- table-driven behaviour -----------------------------------------------------------------

describe('compileTable: backends', () => {
  table([
    {
      name: 'Cluster sends to every Ready node, sorted by name, checked on kube-proxy /healthz:10256',
      services: [svc('web')],
      listeners: [ALL_THREE],
      fields: {
        service: 'default/web',
        portName: 'http',
        trafficPolicy: 'Cluster',
        healthCheckNodePort: 0,
        healthCheck: { type: 'http', port: 10256, path: '/healthz' },
      },
    },
    {
      name: 'Local sends only to nodes with a ready endpoint and probes the healthCheckNodePort',
      services: [svc('web', { externalTrafficPolicy: 'Local', healthCheckNodePort: 31999 })],
      slices: [
        slice('web', [{ node: 'node-c' }, { node: 'node-b', ready: false }, { ready: true }]),
        slice('web', [{ node: 'node-a', ready: true }]),
        slice('web', [{ node: 'node-b' }], 'other-namespace'),
        slice('api', [{ node: 'node-b' }]),
      ],
      listeners: ['127.0.10.1:80/TCP -> [node-a@127.0.20.1:30080 node-c@127.0.20.3:30080]'],
      fields: {
        trafficPolicy: 'Local',
        healthCheckNodePort: 31999,
        healthCheck: { type: 'http', port: 31999, path: '/healthz' },
      },
    },
    {
      name: 'Local with no ready endpoint anywhere keeps the listener with no backends',
      services: [svc('web', { externalTrafficPolicy: 'Local', healthCheckNodePort: 31999 })],
      slices: [slice('web', [{ node: 'node-a', ready: false }])],
      listeners: ['127.0.10.1:80/TCP -> []'],
    },
    {
      name: 'Local never uses a NotReady node even if it runs a ready endpoint',
      services: [svc('web', { externalTrafficPolicy: 'Local', healthCheckNodePort: 31999 })],
      nodes: [node('node-a', ['127.0.20.1'], { ready: 'False' }), node('node-b', ['127.0.20.2'])],
      slices: [slice('web', [{ node: 'node-a' }, { node: 'node-b' }])],
      listeners: ['127.0.10.1:80/TCP -> [node-b@127.0.20.2:30080]'],
    },
    {
      name: 'NotReady, Unknown, condition-less and exclude-labelled nodes get no traffic',
      services: [svc('web')],
      nodes: [
        node('not-ready', ['127.0.20.1'], { ready: 'False' }),
        node('unknown', ['127.0.20.2'], { ready: 'Unknown' }),
        node('no-conditions', ['127.0.20.3'], { ready: null }),
        node('excluded', ['127.0.20.4'], {
          labels: { 'node.kubernetes.io/exclude-from-external-load-balancers': '' },
        }),
        node('ok', ['127.0.20.5'], { labels: { 'node-role.kubernetes.io/control-plane': '' } }),
      ],
      listeners: ['127.0.10.1:80/TCP -> [ok@127.0.20.5:30080]'],
    },
    {
      name: 'no nodes at all still gives the listener, with no backends (the speaker resets clients)',
      services: [svc('web')],
      nodes: [],
      listeners: ['127.0.10.1:80/TCP -> []'],
    },
    {
      name: 'dual-stack VIPs pick the node InternalIP of their own family; a node lacking one is reported once',
      services: [svc('web', { ports: [HTTP, { name: 'https', port: 443, nodePort: 30443 }] })],
      assignments: { 'default/web': ['2001:db8::10', '127.0.10.1'] },
      nodes: [node('node-a', ['127.0.20.1', 'fd00::1']), node('node-b', ['127.0.20.2'])],
      listeners: [
        '127.0.10.1:80/TCP -> [node-a@127.0.20.1:30080 node-b@127.0.20.2:30080]',
        '127.0.10.1:443/TCP -> [node-a@127.0.20.1:30443 node-b@127.0.20.2:30443]',
        '[2001:db8::10]:80/TCP -> [node-a@fd00::1:30080]',
        '[2001:db8::10]:443/TCP -> [node-a@fd00::1:30443]',
      ],
      problems: ['compile.node-without-address status.addresses'],
    },
    {
      name: 'two nodes reporting one address: the first by name keeps it, the other is reported',
      services: [svc('web')],
      nodes: [node('node-b', ['127.0.20.1']), node('node-a', ['127.0.20.1'])],
      listeners: ['127.0.10.1:80/TCP -> [node-a@127.0.20.1:30080]'],
      problems: ['compile.duplicate-node-address status.addresses'],
    },
  ]);
});

describe('compileTable: ports and Services', () => {
  table([
    {
      name: 'UDP and SCTP ports are skipped with a problem; a port without protocol is TCP',
      services: [
        svc('web', {
          ports: [
            { name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 },
            { name: 'sig', port: 2905, protocol: 'SCTP', nodePort: 32905 },
            { name: 'plain', port: 8080, nodePort: 30081 },
          ],
        }),
      ],
      nodes: [node('node-a', ['127.0.20.1'])],
      listeners: ['127.0.10.1:8080/TCP -> [node-a@127.0.20.1:30081]'],
      problems: [
        'compile.unsupported-protocol spec.ports[0].protocol',
        'compile.unsupported-protocol spec.ports[1].protocol',
      ],
    },
    {
      name: 'a port without NodePort gets no listener and says how to get one',
      services: [svc('web', { ports: [{ port: 80 }, { port: 81, nodePort: 30081 }] })],
      nodes: [node('node-a', ['127.0.20.1'])],
      listeners: ['127.0.10.1:81/TCP -> [node-a@127.0.20.1:30081]'],
      problems: ['compile.no-node-port spec.ports[0].nodePort'],
    },
    {
      name: 'Services that are not LoadBalancer, or have no assignment yet, get no listener and no problem',
      services: [svc('web', { type: 'NodePort' }), svc('pending'), svc('empty')],
      assignments: { 'default/web': ['127.0.10.1'], 'default/empty': [] },
      listeners: [],
    },
    {
      name: 'a second Service on the same VIP:port is refused; the older one keeps it',
      services: [
        svc('newer', {}, { creationTimestamp: new Date('2025-02-01T00:00:00Z') }),
        svc(
          'older',
          { ports: [{ port: 80, nodePort: 31000 }] },
          { creationTimestamp: new Date('2025-01-01T00:00:00Z') },
        ),
      ],
      assignments: { 'default/newer': ['127.0.10.1'], 'default/older': ['127.0.10.1'] },
      nodes: [node('node-a', ['127.0.20.1'])],
      listeners: ['127.0.10.1:80/TCP -> [node-a@127.0.20.1:31000]'],
      fields: { service: 'default/older' },
      problems: ['compile.listener-conflict spec.ports'],
    },
    {
      name: 'the same TCP port twice in one Service keeps the first and reports the second',
      services: [svc('web', { ports: [HTTP, { name: 'again', port: 80, nodePort: 30081 }] })],
      nodes: [node('node-a', ['127.0.20.1'])],
      listeners: ['127.0.10.1:80/TCP -> [node-a@127.0.20.1:30080]'],
      fields: { portName: 'http' },
      problems: ['compile.listener-conflict spec.ports'],
    },
    {
      name: 'an assignment that is not an IP is reported and the Service keeps its good VIPs',
      services: [svc('web')],
      assignments: { 'default/web': ['127.0.10.999', '127.0.10.1', '127.0.10.1'] },
      nodes: [],
      listeners: ['127.0.10.1:80/TCP -> []'],
      problems: ['compile.invalid-vip assignments[0]'],
    },
    {
      name: 'a Service without namespace is default/<name>',
      services: [{ metadata: { name: 'web' }, spec: { type: 'LoadBalancer', ports: [HTTP] } }],
      nodes: [],
      listeners: ['127.0.10.1:80/TCP -> []'],
      fields: { service: 'default/web' },
    },
  ]);
});

describe('compileTable: annotations', () => {
  table([
    {
      name: 'valid data-plane annotations set PROXY v2, least-connections, limits and timeouts',
      services: [
        annotated('web', {
          'switchyard.io/proxy-protocol': 'v2',
          'switchyard.io/lb-algorithm': 'least-connections',
          'switchyard.io/max-connections': '500',
          'switchyard.io/idle-timeout': '90s',
          'switchyard.io/connect-timeout': ' 500ms ',
        }),
      ],
      listeners: [ALL_THREE],
      fields: {
        proxyProtocol: 'v2',
        algorithm: 'least-connections',
        maxConnections: 500,
        timeouts: { connectMs: 500, idleMs: 90_000, halfClosedMs: 60_000, drainMs: 30_000 },
      },
    },
    {
      name: 'proxy-protocol v1 and lb-algorithm source-hash are read as written',
      services: [
        annotated('web', {
          'switchyard.io/proxy-protocol': 'v1',
          'switchyard.io/lb-algorithm': 'source-hash',
        }),
      ],
      fields: { proxyProtocol: 'v1', algorithm: 'source-hash', sessionAffinity: 'None' },
    },
    {
      name: 'no annotations: none, round-robin, unlimited, default timeouts from the options',
      services: [svc('web')],
      options: { timeouts: { idleMs: 120_000 } },
      fields: {
        proxyProtocol: 'none',
        algorithm: 'round-robin',
        maxConnections: 0,
        timeouts: { connectMs: 2000, idleMs: 120_000, halfClosedMs: 60_000, drainMs: 30_000 },
      },
    },
    {
      name: 'max-connections "0" means unlimited',
      services: [annotated('web', { 'switchyard.io/max-connections': '0' })],
      fields: { maxConnections: 0 },
    },
    ...(
      [
        ['proxy-protocol', 'v3', { proxyProtocol: 'none' }],
        ['proxy-protocol', 'V2', { proxyProtocol: 'none' }],
        ['lb-algorithm', 'random', { algorithm: 'round-robin' }],
        ['max-connections', '-1', { maxConnections: 0 }],
        ['max-connections', '1e3', { maxConnections: 0 }],
        ['max-connections', '99999999999', { maxConnections: 0 }],
        ['idle-timeout', '30', { timeouts: resolveCompileOptions().timeouts }],
        ['idle-timeout', '0s', { timeouts: resolveCompileOptions().timeouts }],
        ['idle-timeout', '25h', { timeouts: resolveCompileOptions().timeouts }],
        ['connect-timeout', 'soon', { timeouts: resolveCompileOptions().timeouts }],
      ] as const
    ).map(
      ([ann, value, fields]): Row => ({
        name: `invalid ${ann} "${value}" is a problem naming the annotation; the setting falls back to its default`,
        services: [annotated('web', { [`switchyard.io/${ann}`]: value })],
        listeners: [ALL_THREE],
        fields,
        problems: [`compile.invalid-annotation metadata.annotations["switchyard.io/${ann}"]`],
      }),
    ),
    {
      name: 'one invalid annotation does not cancel the valid ones beside it',
      services: [
        annotated('web', { 'switchyard.io/proxy-protocol': 'v2', 'switchyard.io/lb-algorithm': 'fastest' }),
      ],
      fields: { proxyProtocol: 'v2', algorithm: 'round-robin' },
      problems: ['compile.invalid-annotation metadata.annotations["switchyard.io/lb-algorithm"]'],
    },
    {
      name: 'a bad Service annotation never drops another Service',
      services: [annotated('bad', { 'switchyard.io/idle-timeout': 'forever' }), svc('web')],
      assignments: { 'default/bad': ['127.0.10.2'], 'default/web': ['127.0.10.1'] },
      nodes: [],
      listeners: ['127.0.10.1:80/TCP -> []', '127.0.10.2:80/TCP -> []'],
      problems: ['compile.invalid-annotation metadata.annotations["switchyard.io/idle-timeout"]'],
    },
    {
      name: 'an unknown switchyard.io/ annotation is reported as a likely typo; IPAM ones are not',
      services: [
        annotated('web', {
          'switchyard.io/proxy-protocl': 'v2',
          'switchyard.io/address-pool': 'demo',
          'switchyard.io/allow-shared-ip': 'k',
          'example.com/anything': 'x',
        }),
      ],
      fields: { proxyProtocol: 'none' },
      problems: ['compile.unknown-annotation metadata.annotations["switchyard.io/proxy-protocl"]'],
    },
  ]);
});

describe('compileTable: affinity, source ranges, health checks', () => {
  table([
    {
      name: 'sessionAffinity ClientIP picks by source hash',
      services: [svc('web', { sessionAffinity: 'ClientIP' })],
      fields: { sessionAffinity: 'ClientIP', algorithm: 'source-hash' },
    },
    {
      name: 'sessionAffinity ClientIP wins over a conflicting lb-algorithm, with a problem',
      services: [
        annotated(
          'web',
          { 'switchyard.io/lb-algorithm': 'least-connections' },
          { sessionAffinity: 'ClientIP' },
        ),
      ],
      fields: { algorithm: 'source-hash' },
      problems: ['compile.conflicting-annotation metadata.annotations["switchyard.io/lb-algorithm"]'],
    },
    {
      name: 'spec.loadBalancerSourceRanges become canonical, de-duplicated CIDRs',
      services: [
        svc('web', {
          loadBalancerSourceRanges: ['10.1.2.3/8', ' 192.0.2.0/24', '10.0.0.0/8', '2001:DB8::/32'],
        }),
      ],
      fields: { sourceRanges: ['10.0.0.0/8', '192.0.2.0/24', '2001:db8::/32'] },
    },
    {
      name: 'the source-ranges annotation is read when the spec field is empty',
      services: [
        annotated('web', {
          'service.beta.kubernetes.io/load-balancer-source-ranges': '198.51.100.0/24, 203.0.113.0/24',
        }),
      ],
      fields: { sourceRanges: ['198.51.100.0/24', '203.0.113.0/24'] },
    },
    {
      name: 'the spec field wins over the source-ranges annotation',
      services: [
        annotated(
          'web',
          { 'service.beta.kubernetes.io/load-balancer-source-ranges': '198.51.100.0/24' },
          { loadBalancerSourceRanges: ['192.0.2.0/24'] },
        ),
      ],
      fields: { sourceRanges: ['192.0.2.0/24'] },
    },
    {
      name: 'an invalid source range is dropped with a problem; the valid ones still restrict',
      services: [svc('web', { loadBalancerSourceRanges: ['192.0.2.0/24', '10.0.0.0/33'] })],
      fields: { sourceRanges: ['192.0.2.0/24'] },
      problems: ['compile.invalid-source-range spec.loadBalancerSourceRanges[1]'],
    },
    {
      name: 'when no source range is valid the Service gets no listener rather than admitting everyone',
      services: [
        annotated('web', { 'service.beta.kubernetes.io/load-balancer-source-ranges': 'office' }),
        svc('other'),
      ],
      assignments: { 'default/web': ['127.0.10.1'], 'default/other': ['127.0.10.2'] },
      nodes: [],
      listeners: ['127.0.10.2:80/TCP -> []'],
      problems: [
        'compile.invalid-source-range metadata.annotations["service.beta.kubernetes.io/load-balancer-source-ranges"]',
        'compile.no-valid-source-range metadata.annotations["service.beta.kubernetes.io/load-balancer-source-ranges"]',
      ],
    },
    {
      name: 'healthCheckNodePort is carried only for Local; Cluster probes kube-proxy on the configured port',
      services: [svc('web', { externalTrafficPolicy: 'Cluster', healthCheckNodePort: 31999 })],
      options: { kubeProxyHealthPort: 10257, healthCheckPath: '/livez' },
      fields: { healthCheckNodePort: 0, healthCheck: { type: 'http', port: 10257, path: '/livez' } },
    },
    {
      name: 'kubeProxyHealthPort 0 (no kube-proxy) turns every check into a TCP connect, Local included',
      services: [svc('web', { externalTrafficPolicy: 'Local', healthCheckNodePort: 31999 })],
      slices: [slice('web', [{ node: 'node-a' }])],
      options: { kubeProxyHealthPort: 0 },
      fields: { healthCheckNodePort: 31999, healthCheck: { type: 'tcp' } },
    },
    {
      name: 'Local without a healthCheckNodePort (a manifest) is checked by TCP connect',
      services: [svc('web', { externalTrafficPolicy: 'Local' })],
      slices: [slice('web', [{ node: 'node-a' }])],
      fields: { healthCheckNodePort: 0, healthCheck: { type: 'tcp' } },
    },
  ]);
});

// ---- whole-table properties -----------------------------------------------------------------

/** Recursively freeze, so any write to an input throws (ESM code runs in strict mode). */
function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

function richInput(): CompileInput {
  return {
    services: [
      annotated(
        'api',
        { 'switchyard.io/proxy-protocol': 'v1', 'switchyard.io/max-connections': '10' },
        { ports: [{ name: 'grpc', port: 9090, nodePort: 30090 }, HTTP], sessionAffinity: 'ClientIP' },
      ),
      svc('web', { loadBalancerSourceRanges: ['192.0.2.0/24'] }),
      svc(
        'shop',
        {
          externalTrafficPolicy: 'Local',
          healthCheckNodePort: 32000,
          ports: [{ port: 443, nodePort: 30443 }],
        },
        { namespace: 'store' },
      ),
    ],
    assignments: new Map([
      ['default/api', ['127.0.10.10', 'fd00:10::2']],
      ['default/web', ['127.0.10.9', '::9']],
      ['store/shop', ['127.0.10.11']],
    ]),
    nodes: [
      node('node-b', ['127.0.20.2', 'fd00:20::2']),
      node('node-a', ['127.0.20.1', 'fd00:20::1']),
      node('node-c', ['127.0.20.3'], { ready: 'False' }),
    ],
    endpointSlices: [slice('shop', [{ node: 'node-b' }, { node: 'node-c' }], 'store')],
    version: 7,
  };
}

describe('compileTable: the whole table', () => {
  it('orders listeners by VIP numerically (IPv4 first), then port', () => {
    const { table } = compileTable(richInput());
    assert.deepEqual(
      table.listeners.map((l) => listenerKey(l)),
      [
        '127.0.10.9:80/TCP',
        '127.0.10.10:80/TCP',
        '127.0.10.10:9090/TCP',
        '127.0.10.11:443/TCP',
        '[::9]:80/TCP',
        '[fd00:10::2]:80/TCP',
        '[fd00:10::2]:9090/TCP',
      ],
    );
    assert.equal(table.version, 7);
  });

  it('gives an identical table and problems whatever order the inputs come in', () => {
    const base = richInput();
    const expected = compileTable(base);
    const reversed = compileTable({
      ...base,
      services: [...base.services].reverse(),
      nodes: [...base.nodes].reverse(),
      assignments: new Map([...base.assignments].reverse()),
    });
    assert.deepEqual(reversed, expected);
  });

  it('never modifies its inputs', () => {
    const input = richInput();
    const before = structuredClone(input);
    deepFreeze(input);
    compileTable(input);
    assert.deepEqual(input, before);
  });

  it('renders a table that shared/table-parse.ts parses back to the same model', () => {
    const { table, problems } = compileTable(richInput());
    assert.deepEqual(problems, []);
    const parsed = parseTable(JSON.parse(JSON.stringify(renderTable(table))), 'compiled');
    assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
    assert.deepEqual(parsed.value, table);
  });

  it('refuses options no table could carry, as a wiring bug', () => {
    assert.throws(() => resolveCompileOptions({ kubeProxyHealthPort: 70000 }), RangeError);
    assert.throws(() => resolveCompileOptions({ timeouts: { connectMs: 0 } }), /timeouts.connectMs/);
    assert.throws(() => resolveCompileOptions({ healthCheckPath: 'healthz' }), /healthCheckPath/);
  });

  it('whatever Services, nodes and annotations come in, the output parses and is order-independent', {
    timeout: 20_000,
  }, () => {
    const ipv4 = fc.integer({ min: 1, max: 6 }).map((n) => `127.0.10.${n}`);
    const ipv6 = fc.integer({ min: 1, max: 3 }).map((n) => `fd00::${n}`);
    const annotationValue = fc.constantFrom(
      'v1',
      'v2',
      'none',
      'bogus',
      'least-connections',
      '5s',
      '10',
      '0',
      '',
    );
    const serviceArb = fc.record({
      name: fc.constantFrom('a', 'b', 'c', 'd'),
      ports: fc.array(
        fc.record({
          port: fc.constantFrom(80, 443, 8080),
          nodePort: fc.option(fc.integer({ min: 30000, max: 30005 }), { nil: undefined }),
          protocol: fc.constantFrom('TCP', 'UDP', undefined),
        }),
        { maxLength: 3 },
      ),
      local: fc.boolean(),
      affinity: fc.boolean(),
      vips: fc.array(fc.oneof(ipv4, ipv6, fc.constant('not-an-ip')), { maxLength: 3 }),
      annotations: fc.dictionary(
        fc.constantFrom(
          'proxy-protocol',
          'lb-algorithm',
          'max-connections',
          'idle-timeout',
          'connect-timeout',
        ),
        annotationValue,
      ),
      ranges: fc.array(fc.constantFrom('10.0.0.0/8', '2001:db8::/32', 'bad'), { maxLength: 2 }),
    });
    const nodeArb = fc.record({
      name: fc.constantFrom('n1', 'n2', 'n3'),
      v4: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      v6: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      ready: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(serviceArb, { selector: (s) => s.name, maxLength: 4 }),
        fc.uniqueArray(nodeArb, { selector: (n) => n.name, maxLength: 3 }),
        (svcs, nds) => {
          const input: CompileInput = {
            services: svcs.map((s) =>
              annotated(
                s.name,
                Object.fromEntries(Object.entries(s.annotations).map(([k, v]) => [`switchyard.io/${k}`, v])),
                {
                  ports: s.ports.map((p) => ({ ...p })),
                  externalTrafficPolicy: s.local ? 'Local' : 'Cluster',
                  healthCheckNodePort: 32000,
                  sessionAffinity: s.affinity ? 'ClientIP' : 'None',
                  loadBalancerSourceRanges: s.ranges,
                },
              ),
            ),
            assignments: new Map(svcs.map((s) => [`default/${s.name}`, s.vips])),
            nodes: nds.map((n) =>
              node(
                n.name,
                [n.v4 && `127.0.20.${n.v4}`, n.v6 && `fd00:20::${n.v6}`].filter((a): a is string => !!a),
                { ready: n.ready ? 'True' : 'False' },
              ),
            ),
            endpointSlices: [slice('a', [{ node: 'n1' }, { node: 'n2' }])],
          };
          const out = compileTable(input);
          const parsed = parseTable(JSON.parse(JSON.stringify(renderTable(out.table))));
          assert.ok(parsed.ok, parsed.ok ? '' : JSON.stringify(parsed.problems));
          assert.deepEqual(parsed.value, out.table);
          const shuffled = compileTable({
            ...input,
            services: [...input.services].reverse(),
            nodes: [...input.nodes].reverse(),
          });
          assert.deepEqual(shuffled, out);
        },
      ),
      { numRuns: 150, seed: 20250101 },
    );
  });
});
