/**
 * Every `switchyard` subcommand, in the order `--help` lists them (also read by the docs tests).
 * Each command's module is imported only when that command runs: `plan` and `status` must not load
 * the Kubernetes client, Redis or the data plane, so they answer like `kubectl` does.
 */
import type { CommandModule } from 'yargs';

/** Options every command accepts (declared on the root). */
export const GLOBAL_OPTIONS = ['log-level', 'log-format', 'help', 'h', 'version'] as const;

// biome-ignore lint/suspicious/noExplicitAny: yargs command modules differ in their argument types.
type AnyCommand = CommandModule<any, any>;

/** How to import each subcommand's yargs module, by the name it is invoked with. */
export const COMMAND_LOADERS: Readonly<Record<string, () => Promise<AnyCommand>>> = {
  run: async () => (await import('./run-command.ts')).runCommand,
  status: async () => (await import('./status-command.ts')).statusCommand,
  controller: async () => (await import('../controller/main.ts')).controllerCommand,
  plan: async () => (await import('../controller/plan-command.ts')).planCommand,
  speaker: async () => (await import('../speaker/main.ts')).speakerCommand,
};

/** Every subcommand's module, in `--help` order (imports them all: for help listings and tests). */
export function loadAllCommands(): Promise<AnyCommand[]> {
  return Promise.all(Object.values(COMMAND_LOADERS).map((load) => load()));
}

/**
 * The subcommand modules that parsing `args` needs: only the named command when the first word
 * names one, none for a bare `--version`, and all of them otherwise (root `--help`, no command, a
 * mistyped one), so that yargs lists them exactly as it would with every module loaded.
 */
export async function commandsFor(args: readonly string[]): Promise<AnyCommand[]> {
  const word = args.find((a) => !a.startsWith('-'));
  if (word !== undefined && Object.hasOwn(COMMAND_LOADERS, word)) return [await COMMAND_LOADERS[word]!()];
  const asksHelp = args.some((a) => a === '--help' || a === '-h');
  if (word === undefined && !asksHelp && args.includes('--version')) return [];
  return loadAllCommands();
}
