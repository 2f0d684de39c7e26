/**
 * `switchyard plan --config FILE`: runs the allocator over a manifest exactly as the controller
 * would and prints the outcome. Per-Service failures are results (exit 0); an invalid manifest or
 * pool exits 2 naming the file, the object, the field and the problem.
 */
import type { CommandModule } from 'yargs';
import { formatColumns } from '../shared/columns.ts';
import { formatProblem, UserError } from '../shared/errors.ts';
import { type RenderedPlan, renderPlan } from './allocate/reconcile-allocations.ts';
import { reconcile } from './loop/reconcile.ts';
import { loadManifestFile } from './sources/manifest/file.ts';

interface PlanArgs {
  config: string;
  output: 'json' | 'table';
  'lb-class'?: string;
}

/** The plan as two tables for people. */
export function formatPlanTable(plan: RenderedPlan): string {
  const services = formatColumns([
    ['NAMESPACE', 'NAME', 'EXTERNAL-IP', 'POOL', 'ERROR'],
    ...plan.services.map((s) => [
      s.namespace,
      s.name,
      s.ips.join(',') || '<pending>',
      s.pool ?? '-',
      s.error ?? '',
    ]),
  ]);
  const pools = formatColumns([
    ['POOL', 'ASSIGNED-IPV4', 'AVAILABLE-IPV4', 'ASSIGNED-IPV6', 'AVAILABLE-IPV6'],
    ...plan.pools.map((p) => [
      p.name,
      String(p.assignedIPv4),
      String(p.availableIPv4),
      String(p.assignedIPv6),
      String(p.availableIPv6),
    ]),
  ]);
  return `${services}\n\n${pools}\n`;
}

/** The `plan` subcommand. */
export const planCommand: CommandModule<object, PlanArgs> = {
  command: 'plan',
  describe: 'Show which IP each Service of a manifest would get, without running anything',
  builder: (y) =>
    y
      .option('config', {
        type: 'string',
        demandOption: true,
        describe: 'Manifest: IPAddressPools, Services, Nodes, ...',
      })
      .option('output', { alias: 'o', choices: ['json', 'table'] as const, default: 'table' as const })
      .option('lb-class', {
        type: 'string',
        describe: 'Serve only Services of this loadBalancerClass',
      }) as never,
  handler: (args) => {
    const { objects, warnings } = loadManifestFile(args.config);
    const result = reconcile(objects, { lbClass: args['lb-class'] ?? null });
    if (result.poolProblems.length > 0) throw new UserError(result.poolProblems);
    for (const w of [...warnings, ...result.poolWarnings])
      process.stderr.write(`warning: ${formatProblem(w)}\n`);
    const rendered = renderPlan(result.plan);
    process.stdout.write(
      args.output === 'json' ? `${JSON.stringify(rendered, null, 2)}\n` : formatPlanTable(rendered),
    );
  },
};
