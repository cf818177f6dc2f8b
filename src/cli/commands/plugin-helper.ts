import { readHelper, type PluginLanguage } from '../../plugins/scaffold.ts';

/**
 * `taskhost plugin helper --lang bash|python`: prints the helper shipped with this taskhost
 * (taskhost.sh or taskhost_plugin.py), for an author to vendor next to a plugin.
 */
export async function pluginHelper(flags: { lang: PluginLanguage }): Promise<number> {
  process.stdout.write(readHelper(flags.lang));
  return 0;
}
