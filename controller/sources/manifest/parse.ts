/**
 * The manifest-file source: a multi-document YAML file, in the same schemas as Kubernetes, holding
 * the IPAddressPools, Services, Nodes, Namespaces and EndpointSlices that single-process mode runs
 * on. Parsing is pure (text in, typed collections out) and checks structure only. Every problem
 * names the file, the document (1-based, as a person counts them), its line, the kind/name, the
 * field and the fix. A document with a problem is left out whole; the others are kept, and the
 * caller decides whether any problem is fatal. Timestamps other than metadata.creationTimestamp are
 * passed on as written (Switchyard reads none of them).
 */

import { type Document, isMap, isSeq, LineCounter, parseAllDocuments, type YAMLError } from 'yaml';
import { type Problem, ProblemCollector } from '../../../shared/errors.ts';
import type { CodeIn } from '../../../shared/problems.ts';
import { POOL_API_VERSIONS } from '../../api-names.ts';
import type { ClusterObjects } from '../../loop/reconcile.ts';
import type {
  EndpointSliceObject,
  NamespaceObject,
  NodeObject,
  ObjectMeta,
  ServiceObject,
} from '../../model/kubernetes.ts';
import { SERVICE_NAME_LABEL } from '../../table/backend-nodes.ts';
import {
  checkEndpointSlice,
  checkMetadata,
  checkNode,
  checkPool,
  checkService,
  isMapping,
  type NameRule,
  type ShapeReport,
} from './shape.ts';

/** An IPAddressPool as written; its spec is validated by controller/pools/parse.ts. */
export interface IPAddressPoolObject {
  readonly apiVersion: (typeof POOL_API_VERSIONS)[number];
  readonly kind: 'IPAddressPool';
  readonly metadata: ObjectMeta & { readonly name: string };
  readonly spec: Readonly<Record<string, unknown>>;
  readonly status?: unknown;
}

/** The objects of a manifest, by kind, in file order (implied Namespaces last, by name). */
export interface ManifestObjects extends ClusterObjects {
  readonly pools: readonly IPAddressPoolObject[];
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
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true });
  const reader = new ManifestReader(file, lineCounter);
  if ('empty' in docs) {
    // A stream with no document can still hold errors (a lone stray token, say).
    for (const e of docs.errors) reader.yamlError({ doc: 1 }, e);
  } else {
    docs.forEach((doc, i) => {
      reader.readDocument(doc, i + 1);
    });
  }
  return reader.result();
}

/** Walks the documents of one file, collecting objects, problems and warnings. */
class ManifestReader {
  private readonly file: string;
  private readonly lines: LineCounter;
  private readonly out = {
    pools: [] as IPAddressPoolObject[],
    services: [] as ServiceObject[],
    nodes: [] as NodeObject[],
    namespaces: [] as NamespaceObject[],
    endpointSlices: [] as EndpointSliceObject[],
  };
  /** Problems leave their document out; warnings keep it (the catalog's severity decides). */
  private readonly found = new ProblemCollector('');
  /** `Kind id` → where it was first defined. */
  private readonly seen = new Map<string, string>();

  constructor(file: string, lines: LineCounter) {
    this.file = file;
    this.lines = lines;
  }

  readDocument(doc: Document.Parsed, n: number): void {
    const loc: Location = { doc: n, line: this.lineOf(doc.contents?.range[0] ?? doc.range[0]) };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) this.yamlError(loc, e);
      return;
    }
    let raw: unknown;
    try {
      // The alias cap stops a "billion laughs" document from expanding without bound.
      raw = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      const message = firstLine(err instanceof Error ? err.message : String(err));
      this.add(loc, '', '(yaml)', '', 'yaml-syntax', `cannot be read: ${message}`);
      return;
    }
    if (raw === null || raw === undefined) return; // an empty document, e.g. after a trailing `---`
    if (isMapping(raw) && raw['kind'] === 'List') this.readList(raw, doc, loc);
    else this.readObject(raw, loc);
  }

  yamlError(loc: Location, e: YAMLError): void {
    const at = e.linePos?.[0];
    const position = at ? ` at line ${at.line}, column ${at.col}` : '';
    this.add(
      { doc: loc.doc, line: at?.line ?? loc.line },
      '',
      '(yaml)',
      '',
      'yaml-syntax',
      `not valid YAML${position}: ${firstLine(e.message)}; the document is skipped`,
    );
  }

  result(): ManifestResult {
    const declared = new Set(this.out.namespaces.map((n) => n.metadata?.name));
    const implied = new Set<string>();
    for (const o of [...this.out.services, ...this.out.endpointSlices]) {
      const ns = o.metadata?.namespace;
      if (ns && !declared.has(ns)) implied.add(ns);
    }
    for (const name of [...implied].sort()) {
      this.out.namespaces.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    }
    return { objects: this.out, problems: this.found.problems, warnings: this.found.warnings };
  }

  private readList(raw: Obj, doc: Document.Parsed, loc: Location): void {
    if (raw['apiVersion'] !== 'v1') {
      this.add(
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
      this.add(loc, 'List', 'items', items, 'invalid-field', 'must be a list of objects');
      return;
    }
    // Items are located by their own node, so a problem points at the item, not at the List.
    const itemsNode = isMap(doc.contents) ? doc.contents.get('items', true) : undefined;
    for (const [j, item] of items.entries()) {
      const node = isSeq(itemsNode) ? (itemsNode.items[j] as { range?: [number] } | undefined) : undefined;
      this.readObject(item, { doc: loc.doc, item: j, line: this.lineOf(node?.range?.[0]) ?? loc.line });
    }
  }

  private readObject(raw: unknown, loc: Location): void {
    if (!isMapping(raw)) {
      this.add(
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
      this.add(
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
    const name = typeof meta['name'] === 'string' ? meta['name'] : '';
    const rule = KINDS[kind];
    if (!rule) {
      const message = METALLB_KINDS.has(kind)
        ? 'ignored: Switchyard announces every allocated VIP itself and needs no advertisement objects'
        : kind === 'List'
          ? 'ignored: a List inside a List is not read; put its items in the outer List'
          : `ignored: Switchyard reads ${KNOWN_KINDS}`;
      this.add(loc, `${kind}${name ? ` ${name}` : ''}`, 'kind', kind, 'unknown-kind', message);
      return;
    }
    const written = meta['namespace'];
    const namespace =
      typeof written === 'string' && written !== '' ? written : rule.defaultNamespace ? 'default' : undefined;
    const id = NAMESPACED.has(kind) && namespace ? `${namespace}/${name}` : name;
    const what = name ? `${kind} ${id}` : kind;
    const apiVersion = raw['apiVersion'];
    const versions = rule.apiVersions.join(' or ');
    if (apiVersion === undefined || apiVersion === null || apiVersion === '') {
      this.add(loc, what, 'apiVersion', apiVersion, 'missing-api-version', `add apiVersion: ${versions}`);
      return;
    }
    if (typeof apiVersion !== 'string' || !rule.apiVersions.includes(apiVersion)) {
      this.add(
        loc,
        what,
        'apiVersion',
        apiVersion,
        'wrong-api-version',
        `${kind} is read as apiVersion ${versions}`,
      );
      return;
    }
    const before = this.found.problems.length;
    const report: ShapeReport = (field, value, code, message) =>
      this.add(loc, what, field, value, code, message);
    checkMetadata(raw, rule.name, report);
    rule.check(raw, report);
    if (this.found.problems.length > before) return;

    const key = `${kind} ${id}`;
    const first = this.seen.get(key);
    if (first !== undefined) {
      this.add(
        loc,
        what,
        'metadata.name',
        name,
        'duplicate-object',
        `${key} is already defined in ${first}; remove one or rename it`,
      );
      return;
    }
    this.seen.set(key, this.where(loc));
    this.keep(kind, withMetadata(raw, namespace), loc, what);
  }

  /** File a checked object under its kind, warning about what would make it useless. */
  private keep(kind: string, obj: Obj, loc: Location, what: string): void {
    switch (kind) {
      case 'IPAddressPool':
        this.out.pools.push(obj as unknown as IPAddressPoolObject);
        break;
      case 'Service':
        this.out.services.push(obj as ServiceObject);
        break;
      case 'Node':
        this.out.nodes.push(obj as NodeObject);
        for (const [field, message] of nodeWarnings(obj as NodeObject)) {
          this.add(loc, what, field, undefined, 'node-unusable', message);
        }
        break;
      case 'Namespace':
        this.out.namespaces.push(obj as NamespaceObject);
        break;
      case 'EndpointSlice': {
        const slice = obj as unknown as EndpointSliceObject;
        this.out.endpointSlices.push(slice);
        if (!slice.metadata?.labels?.[SERVICE_NAME_LABEL]) {
          this.add(
            loc,
            what,
            `metadata.labels["${SERVICE_NAME_LABEL}"]`,
            undefined,
            'unlinked-endpoint-slice',
            'names no Service, so no Service uses it; add the label with the Service name',
          );
        }
        break;
      }
    }
  }

  private add(
    loc: Location,
    what: string,
    field: string,
    value: unknown,
    code: CodeIn<'manifest'>,
    message: string,
  ): void {
    const where = this.where(loc);
    this.found.report(`manifest.${code}`, field, value, message, what ? `${what} in ${where}` : where);
  }

  private where(loc: Location): string {
    const item = loc.item === undefined ? '' : ` item ${loc.item}`;
    const line = loc.line === undefined ? '' : ` (line ${loc.line})`;
    return `${this.file} document ${loc.doc}${item}${line}`;
  }

  private lineOf(offset: number | undefined): number | undefined {
    return offset === undefined ? undefined : this.lines.linePos(offset).line;
  }
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
function nodeWarnings(node: NodeObject): [string, string][] {
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
