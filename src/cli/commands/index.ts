/**
 * The CLI's commands, found at run time: every module in this folder (except
 * this one) that exports `command: CliCommand` or `commands: CliCommand[]` is
 * registered, in file-name order. Adding a command is adding a file; nothing
 * central to edit.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand } from '../context';

export interface LoadedCommand {
  file: string;
  command: CliCommand;
}

export interface CommandLoadFailure {
  file: string;
  error: unknown;
}

function isCommand(x: unknown): x is CliCommand {
  return !!x && typeof x === 'object' && typeof (x as CliCommand).name === 'string' && typeof (x as CliCommand).register === 'function';
}

export function loadCommands(dir: string = __dirname): { commands: LoadedCommand[]; failures: CommandLoadFailure[] } {
  const self = path.basename(__filename);
  const files = fs
    .readdirSync(dir)
    .filter((f) => (f.endsWith('.js') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))) && f !== self && !f.startsWith('index.'))
    .filter((f) => !f.endsWith('.test.js') && !f.endsWith('.test.ts'))
    .sort();
  const commands: LoadedCommand[] = [];
  const failures: CommandLoadFailure[] = [];
  for (const f of files) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const mod = require(path.join(dir, f)) as { command?: unknown; commands?: unknown };
      const list = Array.isArray(mod.commands) ? mod.commands : mod.command !== undefined ? [mod.command] : [];
      if (list.length === 0) continue; // a helper module
      for (const c of list) {
        if (isCommand(c)) commands.push({ file: f, command: c });
        else failures.push({ file: f, error: new Error('exported command has no name/register()') });
      }
    } catch (error) {
      failures.push({ file: f, error });
    }
  }
  return { commands, failures };
}
