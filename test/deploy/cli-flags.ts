/**
 * The command-line contract the deployment files rely on: the flags each `switchyard` subcommand
 * accepts, as agreed for this release. The CLI is strict (an unknown flag, or an unknown
 * SWITCHYARD_* variable, stops it), so a manifest that passes a flag outside this list would crash-loop.
 */

/** Flags every subcommand accepts. */
const GLOBAL = ['log-level', 'log-format', 'help', 'version'];

/** Flags per subcommand, without the leading `--`. */
export const AGREED_FLAGS: Readonly<Record<string, readonly string[]>> = {
  controller: [...GLOBAL, 'kubeconfig', 'config', 'redis-url', 'leader-elect', 'metrics-address'],
  speaker: [...GLOBAL, 'redis-url', 'node-name', 'announce', 'interface', 'metrics-address', 'table'],
  run: [...GLOBAL, 'config'],
  plan: [...GLOBAL, 'config'],
  status: [...GLOBAL],
};

/** The subcommand and `--flag` names of an argument list such as `[speaker, --node-name=$(N), ...]`. */
export function commandLine(args: readonly unknown[]): { command: string; flags: string[] } {
  const words = args.map(String);
  const flags = words.filter((w) => w.startsWith('--')).map((w) => w.slice(2).split('=')[0]!);
  return { command: words[0] ?? '', flags };
}

/** The flag a SWITCHYARD_* environment variable stands for (`SWITCHYARD_NODE_NAME` -> `node-name`). */
export function flagOfEnv(name: string): string | null {
  return name.startsWith('SWITCHYARD_')
    ? name.slice('SWITCHYARD_'.length).toLowerCase().replaceAll('_', '-')
    : null;
}
