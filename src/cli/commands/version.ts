/** `heir version`: heir's and Node's versions. */
import type { CliCommand } from '../context';
import { heirVersion } from '../version';

export const command: CliCommand = {
  name: 'version',
  register(program, ctx) {
    program
      .command('version')
      .description("print heir's version")
      .action(
        ctx.action(() => {
          const v = { heir: heirVersion(), node: process.versions.node };
          ctx.emit(v, () => `heir ${v.heir} (node ${v.node})`);
        }),
      );
  },
};
