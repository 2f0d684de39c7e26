/** Every `switchyard` subcommand, in the order `--help` lists them (also read by the docs tests). */
import type { CommandModule } from 'yargs';
import { controllerCommand } from '../controller/main.ts';
import { planCommand } from '../controller/plan-command.ts';
import { speakerCommand } from '../speaker/main.ts';
import { runCommand } from './run-command.ts';
import { statusCommand } from './status-command.ts';

/** Options every command accepts (declared on the root). */
export const GLOBAL_OPTIONS = ['log-level', 'log-format', 'help', 'h', 'version'] as const;

// biome-ignore lint/suspicious/noExplicitAny: yargs command modules differ in their argument types.
export const COMMANDS: CommandModule<any, any>[] = [
  runCommand,
  statusCommand,
  controllerCommand,
  planCommand,
  speakerCommand,
];
