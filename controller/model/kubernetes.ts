/**
 * The Kubernetes objects the controller's core reads, in Kubernetes' own field names and nothing
 * else: only the fields Switchyard uses, all readonly. Both sources hand these to `reconcile()`: the
 * manifest parser from YAML, the Kubernetes source from its informers' frozen objects
 * (`sources/kube/cluster-objects.ts`). They are the project's types, so the Kubernetes client
 * library stays under `sources/kube/`; its typed objects fit them as they are.
 */

/** Labels or annotations. */
export type StringMap = Readonly<Record<string, string>>;

/** `metadata` of every object. */
export interface ObjectMeta {
  readonly name?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly labels?: StringMap;
  readonly annotations?: StringMap;
  /** A Date from a typed LIST, a string from JSON (a WATCH event, a manifest). */
  readonly creationTimestamp?: Date | string;
}

/** One `spec.ports[]` entry of a Service. */
export interface ServicePortObject {
  readonly name?: string;
  readonly protocol?: string;
  readonly port: number;
  readonly nodePort?: number;
}

/** One `status.loadBalancer.ingress[]` entry. */
export interface IngressObject {
  readonly ip?: string;
  readonly hostname?: string;
  readonly ipMode?: string;
  readonly ports?: readonly { readonly port: number; readonly protocol?: string }[];
}

/** A Service. */
export interface ServiceObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly spec?: {
    readonly type?: string;
    readonly loadBalancerClass?: string;
    readonly loadBalancerIP?: string;
    readonly clusterIP?: string;
    readonly clusterIPs?: readonly string[];
    readonly selector?: StringMap;
    readonly ports?: readonly ServicePortObject[];
    readonly externalTrafficPolicy?: string;
    readonly healthCheckNodePort?: number;
    readonly sessionAffinity?: string;
    readonly ipFamilies?: readonly string[];
    readonly ipFamilyPolicy?: string;
    readonly loadBalancerSourceRanges?: readonly string[];
  };
  readonly status?: { readonly loadBalancer?: { readonly ingress?: readonly IngressObject[] } };
}

/** A Node: its addresses, readiness and whether it may take traffic. */
export interface NodeObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly spec?: {
    readonly unschedulable?: boolean;
    readonly taints?: readonly { readonly key: string; readonly value?: string; readonly effect: string }[];
  };
  readonly status?: {
    readonly addresses?: readonly { readonly type: string; readonly address: string }[];
    readonly conditions?: readonly { readonly type: string; readonly status: string }[];
  };
}

/** A Namespace: its labels feed pool `namespaceSelectors`. */
export interface NamespaceObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
}

/** An EndpointSlice: which nodes run ready endpoints of a Service (for `Local` traffic policy). */
export interface EndpointSliceObject {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly addressType?: string;
  readonly endpoints?: readonly {
    readonly addresses: readonly string[];
    readonly nodeName?: string;
    readonly conditions?: {
      readonly ready?: boolean;
      readonly serving?: boolean;
      readonly terminating?: boolean;
    };
  }[];
  readonly ports?: readonly { readonly name?: string; readonly port?: number; readonly protocol?: string }[];
}
