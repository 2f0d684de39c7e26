import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { at, isRecord, type KubeObject, kubeObjects, yamlFiles } from './repo-files.ts';
import { structuralProblems, validate } from './structural-schema.ts';

const CRD_FILE = 'deploy/crds/ipaddresspools.yaml';
const crd = kubeObjects(CRD_FILE)[0]!;
const version = (at(crd, 'spec.versions') as KubeObject[])[0]!;
const schema = at(version, 'schema.openAPIV3Schema') as Record<string, unknown>;

/** Pools written for Switchyard, or for MetalLB unchanged (the CRD promises the same spec). */
const POOL_API_VERSIONS = new Set(['switchyard.io/v1beta1', 'metallb.io/v1beta1']);

function poolsInRepo(): { file: string; name: string; pool: KubeObject }[] {
  return yamlFiles()
    .filter((f) => f.startsWith('deploy/') || f.startsWith('examples/'))
    .flatMap((file) =>
      kubeObjects(file)
        .filter((o) => o['kind'] === 'IPAddressPool' && POOL_API_VERSIONS.has(String(o['apiVersion'])))
        .map((pool) => ({ file, name: String(at(pool, 'metadata.name')), pool })),
    );
}

const goodPool = {
  apiVersion: 'switchyard.io/v1beta1',
  kind: 'IPAddressPool',
  metadata: { name: 'prod', namespace: 'switchyard-system', labels: { team: 'net' } },
  spec: {
    addresses: ['192.0.2.0/28', '2001:db8::10-2001:db8::1f'],
    autoAssign: false,
    avoidBuggyIPs: true,
    serviceAllocation: {
      priority: 10,
      namespaces: ['prod'],
      namespaceSelectors: [{ matchLabels: { tier: 'front' } }],
      serviceSelectors: [{ matchExpressions: [{ key: 'app', operator: 'In', values: ['web'] }] }],
    },
  },
  status: {
    assignedIPv4: 3,
    availableIPv4: 13,
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-02T03:04:05Z' }],
  },
};

/** Apply `edit` to a deep copy of the good pool. */
// biome-ignore lint/suspicious/noExplicitAny: test mutations reach into arbitrary fields.
function broken(edit: (p: Record<string, any>) => void): unknown {
  // biome-ignore lint/suspicious/noExplicitAny: as above.
  const p = structuredClone(goodPool) as Record<string, any>;
  edit(p);
  return p;
}

describe('IPAddressPool CRD', () => {
  it('is a structural schema that uses only keywords the validator implements', () => {
    assert.deepEqual(structuralProblems(schema), []);
  });

  it('has the status subresource, one served storage version and the MetalLB names', () => {
    assert.deepEqual(at(version, 'subresources.status'), {});
    assert.equal(version['name'], 'v1beta1');
    assert.equal(version['served'], true);
    assert.equal(version['storage'], true);
    assert.equal(at(crd, 'spec.group'), 'switchyard.io');
    assert.equal(at(crd, 'spec.names.kind'), 'IPAddressPool');
    assert.equal(at(crd, 'spec.scope'), 'Namespaced');
    assert.equal(at(crd, 'metadata.name'), `${at(crd, 'spec.names.plural')}.${at(crd, 'spec.group')}`);
  });

  it('has printer columns whose jsonPath names a schema field of the column type', () => {
    const columns = at(version, 'additionalPrinterColumns') as KubeObject[];
    const names = columns.map((c) => c['name']);
    for (const want of ['Auto Assign', 'Addresses', 'Assigned IPv4', 'Available IPv4', 'Age'])
      assert.ok(names.includes(want), `printer column ${want}`);
    const typeFor: Record<string, string[]> = {
      boolean: ['boolean'],
      integer: ['integer'],
      string: ['string', 'array'],
      date: ['string'],
    };
    for (const c of columns) {
      const path = String(c['jsonPath']);
      if (path === '.metadata.creationTimestamp') {
        assert.equal(c['type'], 'date');
        continue;
      }
      let node: unknown = schema;
      for (const key of path.slice(1).split('.')) node = at(node, `properties.${key}`);
      assert.ok(isRecord(node), `${c['name']}: ${path} is not in the schema`);
      assert.ok(typeFor[String(c['type'])]?.includes(String(node['type'])), `${c['name']}: type mismatch`);
    }
  });

  it('accepts every IPAddressPool in deploy/ and examples/', () => {
    const pools = poolsInRepo();
    assert.ok(pools.length >= 1, 'expected at least one pool (examples/compose/cluster.yaml has one)');
    for (const { file, name, pool } of pools)
      assert.deepEqual(validate(schema, pool), [], `${file}: ${name}`);
  });

  it('accepts a pool using every spec and status field', () => {
    assert.deepEqual(validate(schema, goodPool), []);
  });

  const cases: { breaks: string; pool: unknown; path: string; says: RegExp }[] = [
    {
      breaks: 'a misspelt field',
      pool: broken((p) => {
        p['spec']['adresses'] = p['spec']['addresses'];
        delete p['spec']['addresses'];
      }),
      path: 'spec.adresses',
      says: /unknown field/,
    },
    {
      breaks: 'a missing required field',
      pool: broken((p) => delete p['spec']['addresses']),
      path: 'spec.addresses',
      says: /required/,
    },
    { breaks: 'no spec at all', pool: broken((p) => delete p['spec']), path: 'spec', says: /required/ },
    {
      breaks: 'an empty address list',
      pool: broken((p) => (p['spec']['addresses'] = [])),
      path: 'spec.addresses',
      says: /at least 1/,
    },
    {
      breaks: 'an empty address',
      pool: broken((p) => (p['spec']['addresses'] = [''])),
      path: 'spec.addresses[0]',
      says: /shorter than 1/,
    },
    {
      breaks: 'a string where a boolean belongs',
      pool: broken((p) => (p['spec']['autoAssign'] = 'yes')),
      path: 'spec.autoAssign',
      says: /expected boolean/,
    },
    {
      breaks: 'a fractional priority',
      pool: broken((p) => (p['spec']['serviceAllocation']['priority'] = 1.5)),
      path: 'spec.serviceAllocation.priority',
      says: /expected integer/,
    },
    {
      breaks: 'an operator outside the enum',
      pool: broken(
        (p) =>
          (p['spec']['serviceAllocation']['serviceSelectors'][0]['matchExpressions'][0]['operator'] = 'Is'),
      ),
      path: 'spec.serviceAllocation.serviceSelectors[0].matchExpressions[0].operator',
      says: /unsupported value/,
    },
    {
      breaks: 'a non-string label value in a selector',
      pool: broken(
        (p) => (p['spec']['serviceAllocation']['namespaceSelectors'][0]['matchLabels']['tier'] = 3),
      ),
      path: 'spec.serviceAllocation.namespaceSelectors[0].matchLabels.tier',
      says: /expected string/,
    },
    {
      breaks: 'a status count past int64',
      pool: broken((p) => (p['status']['availableIPv4'] = 2n ** 64n)),
      path: 'status.availableIPv4',
      says: /out of range for int64/,
    },
    {
      breaks: 'a condition time that is not RFC 3339',
      pool: broken((p) => (p['status']['conditions'][0]['lastTransitionTime'] = 'yesterday')),
      path: 'status.conditions[0].lastTransitionTime',
      says: /RFC 3339/,
    },
    {
      breaks: 'a null where a list belongs',
      pool: broken((p) => (p['spec']['serviceAllocation']['namespaces'] = null)),
      path: 'spec.serviceAllocation.namespaces',
      says: /null/,
    },
    {
      breaks: 'an unknown metadata field',
      pool: broken((p) => (p['metadata']['nmae'] = 'x')),
      path: 'metadata.nmae',
      says: /unknown field/,
    },
  ];
  for (const c of cases) {
    it(`refuses a pool with ${c.breaks}, naming ${c.path}`, () => {
      const violations = validate(schema, c.pool);
      const hit = violations.find((v) => v.path === c.path);
      assert.ok(hit, `no violation at ${c.path}; got ${JSON.stringify(violations)}`);
      assert.match(hit.message, c.says);
    });
  }
});

describe('structural schema checker', () => {
  it('refuses a node without a type, a $ref, an unimplemented keyword and an array without items', () => {
    const problems = structuralProblems({
      type: 'object',
      properties: {
        a: { description: 'no type' },
        b: { $ref: '#/definitions/x', type: 'string' },
        c: { type: 'string', pattern: '^x$' },
        d: { type: 'array' },
      },
    });
    assert.deepEqual(
      problems.map((p) => p.path),
      ['a', 'b', 'c', 'd'],
    );
  });

  it('refuses a default the node itself would refuse', () => {
    const problems = structuralProblems({ type: 'boolean', default: 'true' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /default is invalid/);
  });
});
