/**
 * The manifest-file source: a multi-document YAML file, in the same schemas as Kubernetes, holding
 * the IPAddressPools, Services, Nodes, Namespaces and EndpointSlices that single-process mode runs
 * on. Parsing is pure (text in, typed collections out) and checks structure only. Every problem
 * names the file, the document (1-based, as a person counts them), its line, the kind/name, the
 * field and the fix. A document with a problem is left out whole; the others are kept, and the
 * caller decides whether any problem is fatal. Timestamps other than metadata.creationTimestamp are
 * passed on as written (Switchyard reads none of them).
 */
import type { V1EndpointSlice, V1Namespace, V1Node, V1ObjectMeta, V1Service } from '@kubernetes/client-node';
import { isMap, isSeq, LineCounter, parseAllDocuments } from 'yaml';
import { type Problem, show } from '../shared/errors.ts';
import {
  checkEndpointSlice,
  checkMetadata,
  checkNode,
  checkPool,
  checkService,
  isMapping,
  type NameRule,
  type ShapeReport,
} from './manifest-shape.ts';

/** API versions an IPAddressPool may be written in: ours, or MetalLB's unchanged. */
export const POOL_API_VERSIONS = ['switchyard.io/v1beta1', 'metallb.io/v1beta1'] as const;

/** An IPAddressPool as written; its spec is validated by controller/pool-parse.ts. */
export interface IPAddressPoolObject {
  readonly apiVersion: (typeof POOL_API_VERSIONS)[number];
  readonly kind: 'IPAddressPool';
  readonly metadata: V1ObjectMeta & { readonly name: string };
  readonly spec: Readonly<Record<string, unknown>>;
  readonly status?: unknown;
}

/** The objects of a manifest, by kind, in file order (implied Namespaces last, by name). */
export interface ManifestObjects {
  readonly pools: readonly IPAddressPoolObject[];
  readonly services: readonly V1Service[];
  readonly nodes: readonly V1Node[];
  readonly namespaces: readonly V1Namespace[];
  readonly endpointSlices: readonly V1EndpointSlice[];
}

/** What a manifest held: the objects, the problems that left documents out, and warnings. */
export interface ManifestResult {
  readonly objects: ManifestObjects;
  /** Faults that made a document (or the file) unusable: it is not in `objects`. */
  readonly problems: readonly Problem[];
  /** Things ignored or likely to surprise (an unknown kind, a Node with no Ready condition). */
  readonly warnings: readonly Problem[];
}

type Obj = Record<string, unknown>;

interface KindRule {
  readonly apiVersions: readonly string[];
  /** Namespaced kinds default to `default`; pools keep whatever namespace is written. */
  readonly defaultNamespace: boolean;
  readonly name: NameRule;
  readonly check: (raw: Obj, report: ShapeReport) => void;
}

const KINDS: Record<string, KindRule> = {
  IPAddressPool: {
    apiVersions: POOL_API_VERSIONS,
    defaultNamespace: false,
    name: 'subdomain',
    check: checkPool,
  },
  Service: { apiVersions: ['v1'], defaultNamespace: true, name: 'service', check: checkService },
  Node: { apiVersions: ['v1'], defaultNamespace: false, name: 'subdomain', check: checkNode },
  Namespace: { apiVersions: ['v1'], defaultNamespace: false, name: 'label', check: () => {} },
  EndpointSlice: {
    apiVersions: ['discovery.k8s.io/v1'],
    defaultNamespace: true,
    name: 'subdomain',
    check: checkEndpointSlice,
  },
};
const NAMESPACED = new Set(['IPAddressPool', 'Service', 'EndpointSlice']);
const KNOWN_KINDS = `${Object.keys(KINDS).join(', ')} and List`;
/** MetalLB kinds a migrating user may leave in the file; Switchyard announces every VIP itself. */
const METALLB_KINDS = new Set(['L2Advertisement', 'BGPAdvertisement', 'BGPPeer', 'BFDProfile', 'Community']);

/** Where an object sits in the file, for problems. */
interface Location {
  readonly doc: number;
  readonly item?: number;
  readonly line?: number;
}

/** Parse manifest `text`; `file` names it in problems. */
export function parseManifest(text: string, file: string): ManifestResult {
  const out = {
    pools: [] as IPAddressPoolObject[],
    services: [] as V1Service[],
    nodes: [] as V1Node[],
    namespaces: [] as V1Namespace[],
    endpointSlices: [] as V1EndpointSlice[],
  };
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const seen = new Map<string, string>();

  const where = (loc: Location): string =>
    `${file} document ${loc.doc}${loc.item === undefined ? '' : ` item ${loc.item}`}${loc.line === undefined ? '' : ` (line ${loc.line})`}`;
  const issue = (
    to: Problem[],
    loc: Location,
    what: string,
    field: string,
    value: unknown,
    code: string,
    message: string,
  ): void => {
    to.push({
      code: `manifest.${code}`,
      object: what ? `${what} in ${where(loc)}` : where(loc),
      field,
      value: show(value),
      message,
    });
  };

  const take = (raw: unknown, loc: Location, inList: boolean): void => {
    if (!isMapping(raw)) {
      issue(
        problems,
        loc,
        '',
        '(document)',
        raw,
        'not-a-mapping',
        'each document must be one Kubernetes object (a mapping with apiVersion, kind, metadata)',
      );
      return;
    }
    const kind = raw['kind'];
    if (typeof kind !== 'string' || kind === '') {
      issue(
        problems,
        loc,
        '',
        'kind',
        kind,
        'missing-kind',
        `every object needs a kind; Switchyard reads ${KNOWN_KINDS}`,
      );
      return;
    }
    const meta = isMapping(raw['metadata']) ? raw['metadata'] : {};
    const rawName = typeof meta['name'] === 'string' ? meta['name'] : '';
    if (kind === 'List' && !inList) {
      if (raw['apiVersion'] !== 'v1') {
        issue(
          problems,
          loc,
          'List',
          'apiVersion',
          raw['apiVersion'],
          'wrong-api-version',
          'a List must have apiVersion: v1',
        );
        return;
      }
      const items = raw['items'] ?? [];
      if (!Array.isArray(items)) {
        issue(problems, loc, 'List', 'items', items, 'invalid-field', 'must be a list of objects');
        return;
      }
      for (const [j, item] of items.entries()) {
        take(item, { doc: loc.doc, item: j, line: itemLine(loc.doc, j) ?? loc.line }, true);
      }
      return;
    }
    const rule = KINDS[kind];
    if (!rule) {
      const message = METALLB_KINDS.has(kind)
        ? 'ignored: Switchyard announces every allocated VIP itself and needs no advertisement objects'
        : kind === 'List'
          ? 'ignored: a List inside a List is not read; put its items in the outer List'
          : `ignored: Switchyard reads ${KNOWN_KINDS}`;
      issue(warnings, loc, `${kind}${rawName ? ` ${rawName}` : ''}`, 'kind', kind, 'unknown-kind', message);
      return;
    }
    const namespace =
      typeof meta['namespace'] === 'string' && meta['namespace'] !== ''
        ? meta['namespace']
        : rule.defaultNamespace
          ? 'default'
          : undefined;
    const id = NAMESPACED.has(kind) && namespace ? `${namespace}/${rawName}` : rawName;
    const what = rawName ? `${kind} ${id}` : kind;
    const apiVersion = raw['apiVersion'];
    if (apiVersion === undefined || apiVersion === null || apiVersion === '') {
      issue(
        problems,
        loc,
        what,
        'apiVersion',
        apiVersion,
        'missing-api-version',
        `add apiVersion: ${rule.apiVersions.join(' or ')}`,
      );
      return;
    }
    if (typeof apiVersion !== 'string' || !rule.apiVersions.includes(apiVersion)) {
      issue(
        problems,
        loc,
        what,
        'apiVersion',
        apiVersion,
        'wrong-api-version',
        `${kind} is read as apiVersion ${rule.apiVersions.join(' or ')}`,
      );
      return;
    }
    const before = problems.length;
    const report: ShapeReport = (field, value, code, message) =>
      issue(problems, loc, what, field, value, code, message);
    checkMetadata(raw, rule.name, report);
    rule.check(raw, report);
    if (problems.length > before) return;

    const key = `${kind} ${id}`;
    const first = seen.get(key);
    if (first !== undefined) {
      issue(
        problems,
        loc,
        what,
        'metadata.name',
        rawName,
        'duplicate-object',
        `${key} is already defined in ${first}; remove one or rename it`,
      );
      return;
    }
    seen.set(key, where(loc));
    const obj = withMetadata(raw, namespace);
    switch (kind) {
      case 'IPAddressPool':
        out.pools.push(obj as unknown as IPAddressPoolObject);
        break;
      case 'Service':
        out.services.push(obj as V1Service);
        break;
      case 'Node':
        out.nodes.push(obj as V1Node);
        nodeWarnings(obj as V1Node).forEach(([field, message]) => {
          issue(warnings, loc, what, field, undefined, 'node-unusable', message);
        });
        break;
      case 'Namespace':
        out.namespaces.push(obj as V1Namespace);
        break;
      case 'EndpointSlice': {
        const slice = obj as unknown as V1EndpointSlice;
        out.endpointSlices.push(slice);
        if (!slice.metadata?.labels?.['kubernetes.io/service-name']) {
          issue(
            warnings,
            loc,
            what,
            'metadata.labels["kubernetes.io/service-name"]',
            undefined,
            'unlinked-endpoint-slice',
            'names no Service, so no Service uses it; add the label with the Service name',
          );
        }
        break;
      }
    }
  };

  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true });
  const lineOf = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line;
  const docList = 'empty' in docs ? [] : docs;
  // Items of a List are located by their own node, so a problem points at the item, not the List.
  const itemLine = (doc: number, item: number): number | undefined => {
    const contents = docList[doc - 1]?.contents;
    const items = isMap(contents) ? contents.get('items', true) : undefined;
    return isSeq(items)
      ? lineOf((items.items[item] as { range?: [number] } | undefined)?.range?.[0])
      : undefined;
  };

  if ('empty' in docs) {
    for (const e of docs.errors) {
      issue(
        problems,
        { doc: 1, line: e.linePos?.[0].line },
        '',
        '(yaml)',
        '',
        'yaml-syntax',
        `not valid YAML: ${firstLine(e.message)}`,
      );
    }
  }
  docList.forEach((doc, i) => {
    const loc: Location = { doc: i + 1, line: lineOf(doc.contents?.range[0] ?? doc.range[0]) };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const at = e.linePos?.[0];
        issue(
          problems,
          { doc: loc.doc, line: at?.line ?? loc.line },
          '',
          '(yaml)',
          '',
          'yaml-syntax',
          `not valid YAML${at ? ` at line ${at.line}, column ${at.col}` : ''}: ${firstLine(e.message)}; the document is skipped`,
        );
      }
      return;
    }
    let raw: unknown;
    try {
      // The alias cap stops a "billion laughs" document from expanding without bound.
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      issue(
        problems,
        loc,
        '',
        '(yaml)',
        '',
        'yaml-syntax',
        `cannot be read: ${firstLine(err instanceof Error ? err.message : String(err))}`,
      );
      return;
    }
    if (raw === null || raw === undefined) return; // an empty document, e.g. after a trailing `---`
    take(raw, loc, false);
  });

  const declared = new Set(out.namespaces.map((n) => n.metadata?.name));
  const implied = new Set<string>();
  for (const o of [...out.services, ...out.endpointSlices]) {
    const ns = o.metadata?.namespace;
    if (ns && !declared.has(ns)) implied.add(ns);
  }
  for (const name of [...implied].sort())
    out.namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

  return { objects: out, problems, warnings };
}

/** The first line of a parser message, less the position that prettyErrors appends (we give our own). */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** A copy of `raw` with the namespace defaulted and creationTimestamp as the Date the client types promise. */
function withMetadata(raw: Obj, namespace: string | undefined): Obj {
  const meta: Obj = { ...(raw['metadata'] as Obj) };
  if (namespace !== undefined) meta['namespace'] = namespace;
  if (typeof meta['creationTimestamp'] === 'string')
    meta['creationTimestamp'] = new Date(meta['creationTimestamp']);
  return { ...raw, metadata: meta };
}

/** Why a Node as written would never take traffic, as [field, message] pairs. */
function nodeWarnings(node: V1Node): [string, string][] {
  const out: [string, string][] = [];
  const conditions = node.status?.conditions ?? [];
  if (!conditions.some((c) => c.type === 'Ready')) {
    out.push([
      'status.conditions',
      'has no Ready condition, so it takes no traffic; add status.conditions: [{type: Ready, status: "True"}]',
    ]);
  }
  if (!(node.status?.addresses ?? []).some((a) => a.type === 'InternalIP')) {
    out.push([
      'status.addresses',
      'has no InternalIP, so it takes no traffic; add status.addresses: [{type: InternalIP, address: ...}]',
    ]);
  }
  return out;
}
