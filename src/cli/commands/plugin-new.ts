import fs from 'node:fs';
import path from 'node:path';
import { TaskhostError } from '../../errors.ts';
import { checkPluginName } from '../../plugins/registry.ts';
import {
  readHelper,
  scaffoldPlugin,
  type PluginLanguage,
  type ScaffoldFile,
} from '../../plugins/scaffold.ts';
import { shellQuote } from '../output.ts';

/**
 * `taskhost plugin new NAME --lang bash|python [--dir DIR]`: writes a plugin that passes
 * `plugin check` as it is, its sample data, and the helper it uses (see plugins/scaffold.ts).
 * Never overwrites a file: if the plugin or its data file exists, it writes nothing. A helper
 * already there (from an earlier plugin) is kept as it is, and said so when it differs.
 */

const WHAT: Record<ScaffoldFile['role'], string> = {
  plugin: 'the plugin, executable',
  data: 'sample data, for plugin check and execute',
  helper: 'the helper it uses (not executable: serve registers executables only)',
};

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

export async function pluginNew(name: string, flags: { lang: PluginLanguage; dir: string }): Promise<number> {
  checkPluginName(name.normalize('NFC'));
  const dir = path.resolve(flags.dir);
  if (exists(dir) && !fs.statSync(dir).isDirectory()) {
    throw new TaskhostError('TH_CLI_USAGE', `plugin new: ${dir} exists and is not a directory`);
  }
  const files = scaffoldPlugin(name.normalize('NFC'), flags.lang, readHelper(flags.lang));
  const taken = files.filter((file) => file.role !== 'helper' && exists(path.join(dir, file.name)));
  if (taken.length > 0) {
    throw new TaskhostError(
      'TH_CLI_USAGE',
      `plugin new writes nothing: ${taken.map((file) => path.join(dir, file.name)).join(' and ')} already ${taken.length > 1 ? 'exist' : 'exists'}; pick another name or directory`,
    );
  }

  fs.mkdirSync(dir, { recursive: true });
  const lines: string[] = [];
  for (const file of files) {
    const target = path.join(dir, file.name);
    if (file.role === 'helper' && exists(target)) {
      const same = fs.readFileSync(target, 'utf8') === file.content;
      lines.push(
        `${file.name.padEnd(24)}${same ? 'the helper, already there' : `kept as it is, though it differs from this taskhost's (taskhost plugin helper --lang ${flags.lang} prints the new one)`}`,
      );
      continue;
    }
    // 'wx': never replace a file that appeared since the check above.
    fs.writeFileSync(target, file.content, { flag: 'wx', mode: file.mode });
    fs.chmodSync(target, file.mode); // whatever the umask
    lines.push(`${file.name.padEnd(24)}${WHAT[file.role]}`);
  }

  // The next commands, from where the user is.
  const relative = path.relative(process.cwd(), dir);
  const from = (role: ScaffoldFile['role']): string => {
    const file = files.find((candidate) => candidate.role === role)?.name ?? '';
    return shellQuote(relative === '' ? (role === 'plugin' ? `./${file}` : file) : path.join(relative, file));
  };
  const next = [
    `taskhost plugin check ${from('plugin')} --data-file ${from('data')}`,
    `taskhost register -name ${shellQuote(name)} -location ${from('plugin')}`,
    `taskhost execute -name ${shellQuote(name)} -args-file ${from('data')}`,
  ];
  process.stdout.write(
    `created a ${flags.lang} plugin in ${dir}:\n${lines.map((line) => `  ${line}\n`).join('')}` +
      `\nnext: edit its description and its work, then\n${next.map((line) => `  ${line}\n`).join('')}`,
  );
  return 0;
}
