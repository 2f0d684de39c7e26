import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '../../controller/sources/manifest/parse.ts';
import { compileTable } from '../../controller/table/compiler.ts';
import { listenerKey } from '../../shared/model.ts';
import { parseTable } from '../../shared/table-parse.ts';
import { renderTable } from '../../shared/table-render.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const SERVICE = `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  ports:
    - port: 80
      nodePort: 30080
`;

describe('parseManifest: a good file', () => {
  const text = `# pools, services and nodes in one file
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: { name: legacy, namespace: metallb-system }
spec: { addresses: [192.0.2.0/28] }
---
apiVersion: switchyard.io/v1beta1
kind: IPAddressPool
metadata: { name: demo }
spec: { addresses: [127.0.10.1-127.0.10.20] }
---
${SERVICE}---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: team-a
  creationTimestamp: "2025-01-31T12:00:00Z"
  annotations: { switchyard.io/max-connections: "10" }
spec: { type: LoadBalancer, ports: [{ port: 9090, nodePort: 30090 }] }
---
---
apiVersion: v1
kind: Namespace
metadata: { name: team-b }
---
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Node
    metadata: { name: n1 }
    status:
      conditions: [{ type: Ready, status: "True" }]
      addresses: [{ type: InternalIP, address: 127.0.20.1 }]
  - apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: { name: api-1, namespace: team-a, labels: { kubernetes.io/service-name: api } }
    addressType: IPv4
    endpoints: [{ addresses: [10.0.0.1], nodeName: n1, conditions: { ready: true } }]
`;
  const r = parseManifest(text, 'good.yaml');

  it('reads every kind, in file order, List items included, with no problems or warnings', () => {
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(
      r.objects.pools.map((p) => `${p.apiVersion} ${p.metadata.name}`),
      ['metallb.io/v1beta1 legacy', 'switchyard.io/v1beta1 demo'],
    );
    assert.deepEqual(
      r.objects.services.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
      ['default/web', 'team-a/api'],
    );
    assert.deepEqual(
      r.objects.nodes.map((n) => n.metadata?.name),
      ['n1'],
    );
    assert.deepEqual(
      r.objects.endpointSlices.map((e) => e.metadata?.name),
      ['api-1'],
    );
  });

  it('defaults a Service namespace to default and leaves a pool namespace as written', () => {
    assert.equal(r.objects.services[0]!.metadata?.namespace, 'default');
    assert.equal(r.objects.pools[0]!.metadata.namespace, 'metallb-system');
    assert.equal(r.objects.pools[1]!.metadata.namespace, undefined);
  });

  it('adds the Namespaces that Services imply, after the declared ones', () => {
    assert.deepEqual(
      r.objects.namespaces.map((n) => n.metadata?.name),
      ['team-b', 'default', 'team-a'],
    );
  });

  it('turns metadata.creationTimestamp into the Date the client types promise', () => {
    const ts = r.objects.services[1]!.metadata?.creationTimestamp;
    assert.ok(ts instanceof Date);
    assert.equal(ts.toISOString(), '2025-01-31T12:00:00.000Z');
  });

  it('reads an empty file or a comment-only file as nothing, without problems', () => {
    for (const t of ['', '# nothing here\n', '---\n---\n']) {
      const e = parseManifest(t, 'empty.yaml');
      assert.deepEqual([e.problems, e.warnings, e.objects.services.length], [[], [], 0], JSON.stringify(t));
    }
  });
});

interface ErrorRow {
  name: string;
  text: string;
  /** Expected problems (or warnings) as `code field @ object`, exactly. */
  problems?: string[];
  warnings?: string[];
  /** Services that survive, as namespace/name. */
  services?: string[];
}

const ERROR_ROWS: ErrorRow[] = [
  {
    name: 'a YAML syntax error names the document and line; the other documents are still read',
    text: `${SERVICE}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a: b\n---\n${SERVICE.replace('web', 'api')}`,
    problems: ['manifest.yaml-syntax (yaml) @ f.yaml document 2 (line 14)'],
    services: ['default/web', 'default/api'],
  },
  {
    name: 'a duplicate key is a syntax error',
    text: 'apiVersion: v1\nkind: Namespace\nkind: Service\nmetadata: { name: a }\n',
    problems: ['manifest.yaml-syntax (yaml) @ f.yaml document 1 (line 3)'],
  },
  {
    name: 'a missing kind is refused with the kinds Switchyard reads',
    text: `${SERVICE}---\napiVersion: v1\nmetadata: { name: x }\n`,
    problems: ['manifest.missing-kind kind @ f.yaml document 2 (line 11)'],
    services: ['default/web'],
  },
  {
    name: 'a missing apiVersion is refused naming the kind and name',
    text: 'kind: Service\nmetadata: { name: web }\nspec: {}\n',
    problems: ['manifest.missing-api-version apiVersion @ Service default/web in f.yaml document 1 (line 1)'],
    services: [],
  },
  {
    name: 'a wrong apiVersion for a known kind is refused',
    text: 'apiVersion: metallb.io/v1alpha1\nkind: IPAddressPool\nmetadata: { name: p }\nspec: {}\n',
    problems: ['manifest.wrong-api-version apiVersion @ IPAddressPool p in f.yaml document 1 (line 1)'],
  },
  {
    name: 'a missing metadata.name is refused',
    text: 'apiVersion: v1\nkind: Service\nmetadata: { namespace: a }\nspec: {}\n',
    problems: ['manifest.missing-name metadata.name @ Service in f.yaml document 1 (line 1)'],
  },
  {
    name: 'missing metadata altogether is refused',
    text: 'apiVersion: v1\nkind: Node\n',
    problems: ['manifest.missing-field metadata @ Node in f.yaml document 1 (line 1)'],
  },
  {
    name: 'a name Kubernetes would refuse is refused',
    text: SERVICE.replace('name: web', 'name: Web_1'),
    problems: ['manifest.invalid-name metadata.name @ Service default/Web_1 in f.yaml document 1 (line 1)'],
  },
  {
    name: 'an unknown kind is ignored with a warning, not an error',
    text: `apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\n---\n${SERVICE}`,
    warnings: ['manifest.unknown-kind kind @ Deployment web in f.yaml document 1 (line 1)'],
    services: ['default/web'],
  },
  {
    name: 'MetalLB advertisement kinds are ignored with a warning',
    text: 'apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: { name: l2 }\n',
    warnings: ['manifest.unknown-kind kind @ L2Advertisement l2 in f.yaml document 1 (line 1)'],
  },
  {
    name: 'a document that is not a mapping is refused',
    text: `- a\n- b\n---\n${SERVICE}`,
    problems: ['manifest.not-a-mapping (document) @ f.yaml document 1 (line 1)'],
    services: ['default/web'],
  },
  {
    name: 'a second object with the same kind, namespace and name is refused, naming the first',
    text: `${SERVICE}---\n${SERVICE}`,
    problems: [
      'manifest.duplicate-object metadata.name @ Service default/web in f.yaml document 2 (line 11)',
    ],
    services: ['default/web'],
  },
  {
    name: 'wrong field types are named by path: a quoted port, a bad protocol, an out-of-range nodePort',
    text: SERVICE.replace(
      '    - port: 80\n      nodePort: 30080',
      '    - port: "80"\n      protocol: tcp\n      nodePort: 70000',
    ),
    problems: [
      'manifest.invalid-field spec.ports[0].protocol @ Service default/web in f.yaml document 1 (line 1)',
      'manifest.invalid-field spec.ports[0].port @ Service default/web in f.yaml document 1 (line 1)',
      'manifest.invalid-field spec.ports[0].nodePort @ Service default/web in f.yaml document 1 (line 1)',
    ],
    services: [],
  },
  {
    name: 'an unquoted number as an annotation value is refused with the fix "quote it"',
    text: SERVICE.replace(
      '  name: web\n',
      '  name: web\n  annotations:\n    switchyard.io/max-connections: 100\n',
    ),
    problems: [
      'manifest.invalid-field metadata.annotations["switchyard.io/max-connections"] @ Service default/web in f.yaml document 1 (line 1)',
    ],
  },
  {
    name: 'a Service without spec is refused',
    text: 'apiVersion: v1\nkind: Service\nmetadata: { name: web }\n',
    problems: ['manifest.missing-field spec @ Service default/web in f.yaml document 1 (line 1)'],
  },
  {
    name: 'a problem in a List item names the item and its line; the other items are kept',
    text: `apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Service\n    metadata: { name: bad }\n  - ${SERVICE.trimEnd().split('\n').join('\n    ')}\n`,
    problems: ['manifest.missing-field spec @ Service default/bad in f.yaml document 1 item 0 (line 4)'],
    services: ['default/web'],
  },
  {
    name: 'a List whose items are not a list is refused',
    text: 'apiVersion: v1\nkind: List\nitems: { a: 1 }\n',
    problems: ['manifest.invalid-field items @ List in f.yaml document 1 (line 1)'],
  },
  {
    name: 'a Node that could never take traffic is kept with a warning saying why',
    text: 'apiVersion: v1\nkind: Node\nmetadata: { name: n1 }\n',
    warnings: [
      'manifest.node-unusable status.conditions @ Node n1 in f.yaml document 1 (line 1)',
      'manifest.node-unusable status.addresses @ Node n1 in f.yaml document 1 (line 1)',
    ],
  },
  {
    name: 'an EndpointSlice with a bad endpoint field is refused; one without a Service label warns',
    text: `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: s1 }
addressType: IPv4
endpoints: [{ addresses: [10.0.0.1], conditions: { ready: "yes" } }]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: s2 }
addressType: IPv4
endpoints: []
`,
    problems: [
      'manifest.invalid-field endpoints[0].conditions.ready @ EndpointSlice default/s1 in f.yaml document 1 (line 1)',
    ],
    warnings: [
      'manifest.unlinked-endpoint-slice metadata.labels["kubernetes.io/service-name"] @ EndpointSlice default/s2 in f.yaml document 2 (line 7)',
    ],
  },
  {
    name: 'an alias bomb is refused instead of expanded',
    text: `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`,
    problems: ['manifest.yaml-syntax (yaml) @ f.yaml document 1 (line 1)'],
  },
];

describe('parseManifest: each kind of error names the document', () => {
  for (const row of ERROR_ROWS) {
    it(row.name, () => {
      const r = parseManifest(row.text, 'f.yaml');
      const fmt = (ps: readonly { code: string; field: string; object: string }[]) =>
        ps.map((p) => `${p.code} ${p.field} @ ${p.object}`);
      assert.deepEqual(fmt(r.problems), row.problems ?? [], JSON.stringify(r.problems, null, 1));
      assert.deepEqual(fmt(r.warnings), row.warnings ?? [], JSON.stringify(r.warnings, null, 1));
      if (row.services) {
        assert.deepEqual(
          r.objects.services.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
          row.services,
        );
      }
      for (const p of [...r.problems, ...r.warnings])
        assert.ok(p.message.length > 10, `message for ${p.code}`);
    });
  }
});

/**
 * Every Kubernetes manifest under examples/, relative to the repository root: the YAML files with
 * a top-level `kind:` (examples/compose/ also holds Prometheus and Grafana configuration).
 */
function exampleFiles(dir = join(ROOT, 'examples')): string[] {
  return yamlFiles(dir).filter((f) => /^kind:/m.test(readFileSync(join(ROOT, f), 'utf8')));
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? yamlFiles(join(dir, e.name))
      : /\.ya?ml$/.test(e.name)
        ? [relative(ROOT, join(dir, e.name))]
        : [],
  );
}

describe('examples/', () => {
  const files = exampleFiles();

  it('holds the demo, the two pool files and the Service samples', () => {
    for (const f of ['examples/demo.yaml', 'examples/pools/bare-metal.yaml', 'examples/pools/kind.yaml']) {
      assert.ok(files.includes(f), f);
    }
    assert.ok(files.filter((f) => f.startsWith('examples/services/')).length >= 4);
  });

  for (const f of files) {
    it(`${f} parses with no problems and no warnings`, () => {
      const r = parseManifest(readFileSync(join(ROOT, f), 'utf8'), f);
      assert.deepEqual([...r.problems, ...r.warnings], []);
      const count = Object.values(r.objects).reduce((n, list) => n + list.length, 0);
      assert.ok(count > 0, 'holds at least one object');
    });
  }

  it('the Service samples carry only annotations the compiler accepts', () => {
    for (const f of files.filter((x) => x.startsWith('examples/services/'))) {
      const { objects } = parseManifest(readFileSync(join(ROOT, f), 'utf8'), f);
      // A cluster would give NodePorts and VIPs; supply them so only the annotations are judged.
      const services = objects.services.map((s) => ({
        ...s,
        spec: { ...s.spec, ports: (s.spec?.ports ?? []).map((p, i) => ({ ...p, nodePort: 30000 + i })) },
      }));
      const { table, problems } = compileTable({
        services,
        assignments: new Map(
          services.map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, ['192.0.2.1']]),
        ),
        nodes: [],
        endpointSlices: [],
      });
      assert.deepEqual(problems, [], f);
      assert.ok(table.listeners.length > 0, f);
    }
  });

  it('the demo compiles to web, api and orders on 127.0.10.1-3 with the nodes each should use', () => {
    const { objects } = parseManifest(readFileSync(join(ROOT, 'examples/demo.yaml'), 'utf8'), 'demo.yaml');
    assert.equal(objects.pools[0]?.metadata.name, 'demo');
    // The pinned IPs stand in for the allocator, which honours switchyard.io/loadBalancerIPs.
    const assignments = new Map(
      objects.services.map((s) => [
        `${s.metadata?.namespace}/${s.metadata?.name}`,
        [s.metadata?.annotations?.['switchyard.io/loadBalancerIPs'] ?? ''],
      ]),
    );
    const { table, problems } = compileTable({
      ...objects,
      assignments,
      options: { kubeProxyHealthPort: 0 },
    });
    assert.deepEqual(problems, []);
    assert.deepEqual(
      table.listeners.map(
        (l) =>
          `${l.service} ${listenerKey(l)} ${l.algorithm} ${l.backends.map((b) => `${b.address}:${b.nodePort}`).join(' ')}`,
      ),
      [
        'demo/web 127.0.10.1:8080/TCP round-robin 127.0.20.1:30080 127.0.20.2:30080 127.0.20.3:30080',
        'demo/api 127.0.10.2:9090/TCP source-hash 127.0.20.1:30090 127.0.20.2:30090 127.0.20.3:30090',
        'shop/orders 127.0.10.3:7070/TCP least-connections 127.0.20.1:30070 127.0.20.2:30070',
      ],
    );
    const parsed = parseTable(renderTable(table), 'demo table');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.value, table);
  });
});
