/**
 * `heir import-mha app1.cnf [--out FILE]`: convert an MHA manager configuration to heir's YAML.
 *
 * The YAML goes to stdout (or --out); every setting that could not be carried over, or only
 * approximately, is both a comment in the YAML and a line of the list printed on stderr. Passwords
 * are never copied: they become ${file:}/${env:} references. The result is checked with the
 * configuration loader (secret references stubbed) before it is written.
 * Exit 0: converted and valid; 1: written but it does not validate yet (see the problems);
 * 2: the MHA file cannot be read or parsed, or bad usage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliCommand } from '../context';
import { CliError, ExitCode } from '../exit';
import { importMha, parseMhaCnf, MhaParseError, type ImportResult } from '../../config/mha-import';
import { validateConfigText } from '../../config/load';
import { ConfigError, type ConfigIssue } from '../../config/errors';

const GLOBAL_DEFAULT = '/etc/masterha_default.cnf';

interface Options {
  out?: string;
  globalConf?: string;
  name?: string;
  secrets: 'file' | 'env';
  secretsDir?: string;
  force?: boolean;
}

function readCnf(file: string, what: string) {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, ExitCode.USAGE);
  }
  try {
    return parseMhaCnf(text, file);
  } catch (e) {
    if (e instanceof MhaParseError) throw new CliError(`cannot read ${what}: ${e.message}`, ExitCode.USAGE);
    throw e;
  }
}

/**
 * Check the converted YAML with the loader. Secret references are replaced by stand-ins first:
 * the secret files or variables usually do not exist yet where the import runs.
 */
export function validateImported(r: ImportResult): ConfigIssue[] {
  let text = r.yaml;
  for (const s of r.secrets) text = text.split(s.ref).join('stand-in-secret');
  try {
    validateConfigText(text, { sourceName: 'converted configuration', env: {} });
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
}

export const command: CliCommand = {
  name: 'import-mha',
  register(program, ctx) {
    program
      .command('import-mha')
      .description("convert an MHA manager configuration (app1.cnf) to heir's YAML, with a note for everything not carried over")
      .argument('<mha-cnf>', 'the MHA application configuration, e.g. /etc/masterha/app1.cnf')
      .option('-o, --out <file>', 'write the YAML to this file (default: stdout)')
      .option('--global-conf <file>', `MHA's global defaults file, if it had one (e.g. ${GLOBAL_DEFAULT})`)
      .option('--name <cluster>', 'cluster name (default: the file name, e.g. app1)')
      .option('--secrets <kind>', 'how passwords are referenced: file (${file:DIR/<cluster>/...}) or env (${env:HEIR_<CLUSTER>_...})', 'file')
      .option('--secrets-dir <dir>', 'directory of secret files for --secrets file', '/etc/heir/secrets')
      .option('-f, --force', 'overwrite --out if it exists')
      .action(
        ctx.action((file: string, opts: Options) => {
          if (opts.secrets !== 'file' && opts.secrets !== 'env') {
            throw new CliError(`--secrets must be "file" or "env", not "${String(opts.secrets)}"`, ExitCode.USAGE);
          }
          const app = readCnf(file, 'MHA configuration');
          const global = opts.globalConf ? readCnf(opts.globalConf, 'MHA global configuration') : undefined;
          const r = importMha(app, {
            clusterName: opts.name,
            global,
            secrets: opts.secrets,
            secretsDir: opts.secretsDir,
          });
          const problems = validateImported(r);

          if (opts.out) {
            if (fs.existsSync(opts.out) && !opts.force) {
              throw new CliError(`${opts.out} exists: choose another --out or add --force`, ExitCode.USAGE);
            }
            fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
            fs.writeFileSync(opts.out, r.yaml, { mode: 0o640 });
          }

          if (ctx.json) {
            ctx.print(
              JSON.stringify(
                {
                  ok: problems.length === 0,
                  source: file,
                  out: opts.out ?? null,
                  notes: r.notes.map(({ kind, from, message }) => ({ kind, from, message })),
                  secrets: r.secrets,
                  problems,
                  ...(opts.out ? {} : { yaml: r.yaml }),
                },
                null,
                2,
              ),
            );
          } else {
            if (!opts.out) ctx.print(r.yaml);
            const lines: string[] = [];
            lines.push(`heir import-mha: ${file} → ${opts.out ?? 'stdout'}: cluster ${String(r.config.clusters[0]!.name)}, ${(r.config.clusters[0]!.nodes as unknown[]).length} nodes`);
            const groups: [string, string][] = [
              ['secret', 'Secrets to provide (never copied from the MHA file)'],
              ['todo', 'To fill in or check'],
              ['approximate', 'Carried over approximately'],
              ['dropped', 'Not carried over'],
            ];
            for (const [kind, title] of groups) {
              const ns = r.notes.filter((n) => n.kind === kind);
              if (!ns.length) continue;
              lines.push('', `${title}:`);
              for (const n of ns) lines.push(`  - ${n.from}: ${n.message}`);
            }
            if (!opts.globalConf && fs.existsSync(GLOBAL_DEFAULT)) {
              lines.push('', `Note: ${GLOBAL_DEFAULT} exists; MHA read its [server default] too. Pass --global-conf ${GLOBAL_DEFAULT} to include it.`);
            }
            if (problems.length) {
              lines.push('', 'The result does not validate yet; fix these in the output file:');
              for (const p of problems) lines.push(`  - ${p.path || '(file)'}${p.line ? ` (line ${p.line})` : ''}: ${p.message}`);
            } else {
              lines.push('', `The result validates. Provide the secrets above, then run: heir check --config ${opts.out ?? '<file>'}`);
            }
            ctx.note(lines.join('\n'));
          }
          return problems.length ? ExitCode.FAILED : ExitCode.OK;
        }),
      );
  },
};
