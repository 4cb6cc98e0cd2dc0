// The SoT externals (release_tag revisions, Advanced SoT configurations) for commands that read a SoT folder or a
// local repository: the folder's own git repository, mirrors under the data directory, and the configuration
// roots the operator allowed (--config-root, VAQUERO_CONFIG_ROOTS).
import type { Command } from 'commander';
import { configRootsFromEnv, createSotExternals, sotRepoOf } from '../activities/control/sot-externals.ts';
import type { SotExternals } from '../sot/externals.ts';
import { resolveDataDir } from '../temporal/data-dir.ts';

export interface ExternalsFlags {
  configRoot?: string[];
  dataDir?: string;
}

/** Adds --config-root and --data-dir to a command that validates SoTs. */
export function externalsOptions(cmd: Command): Command {
  return cmd
    .option(
      '--config-root <dir>',
      'a folder Advanced SoT configurations (type: local, or file:// repositories) may be in; repeatable (also $VAQUERO_CONFIG_ROOTS, ":"-separated)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option(
      '--data-dir <dir>',
      'where configuration repositories are mirrored (default $VAQUERO_DATA_DIR or ~/.vaquero)',
    );
}

/** Externals for the SoT in `dir`; `repo`: the repository it is a revision of (default: `dir` itself, when one). */
export async function cliExternals(dir: string, flags: ExternalsFlags, repo?: string): Promise<SotExternals> {
  const sotRepo = repo ?? (await sotRepoOf(dir));
  return createSotExternals({
    ...(sotRepo !== undefined ? { sotRepo } : {}),
    cacheDir: resolveDataDir(flags.dataDir),
    localRoots: [...(flags.configRoot ?? []), ...configRootsFromEnv()],
  });
}
