import {
  checkPluginName,
  listPlugins,
  preparePlugin,
  savePlugin,
  unregisterPlugin,
} from '../../plugins/registry.ts';
import { withStore, type StoreFlags } from '../context.ts';
import { formatTable, printJson } from '../output.ts';

export async function register(flags: StoreFlags & { name: string; location: string }): Promise<number> {
  // The name, the file and its self-description are checked before the store is opened.
  const prepared = await preparePlugin({ name: flags.name, location: flags.location });
  return withStore(flags, async ({ store }) => {
    const row = await savePlugin(store, prepared, 'cli');
    const text = typeof row.description.description === 'string' ? ` — ${row.description.description}` : '';
    process.stdout.write(`registered ${row.name} (${row.location})${text}\n`);
    return 0;
  });
}

export async function unregister(flags: StoreFlags & { name: string }): Promise<number> {
  checkPluginName(flags.name.normalize('NFC'));
  return withStore(flags, async ({ store }) => {
    await unregisterPlugin(store, flags.name);
    process.stdout.write(`unregistered ${flags.name}\n`);
    return 0;
  });
}

export async function list(flags: StoreFlags & { json?: boolean }): Promise<number> {
  return withStore(flags, async ({ store }) => {
    const rows = await listPlugins(store);
    if (flags.json) {
      printJson(
        rows.map((row) => ({
          name: row.name,
          location: row.location,
          source: row.source,
          description: row.description,
          registered_at: row.registered_at.toISOString(),
          updated_at: row.updated_at.toISOString(),
        })),
      );
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write('no plugins registered (taskhost register -name NAME -location PATH)\n');
      return 0;
    }
    // A line per plugin: its title (or the first sentence of its description), cut short.
    const summary = (description: Record<string, unknown>): string => {
      const title = typeof description.title === 'string' ? description.title : '';
      const text = typeof description.description === 'string' ? description.description : '';
      const first = title || (text.split(/(?<=\.)\s/)[0] ?? '');
      return first.length > 60 ? `${first.slice(0, 59)}…` : first;
    };
    process.stdout.write(
      `${formatTable(
        ['NAME', 'SOURCE', 'TITLE', 'LOCATION'],
        rows.map((row) => [row.name, row.source, summary(row.description), row.location]),
      )}\n`,
    );
    return 0;
  });
}
