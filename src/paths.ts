import { fileURLToPath } from 'node:url';

/**
 * Paths inside the package, found from this file and never from the working directory, so
 * a global install works anywhere. Both the sources (src/paths.ts, run by tsx in tests) and
 * the bundle's files (dist/*.js) sit one level below the package root, so one relative URL
 * serves both.
 */

/** JSON Schemas shipped with taskhost (protocol envelopes, plugin self-description). */
export const SCHEMAS_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/**
 * Versioned SQL migrations, read from src/store/sql in both layouts (the bundle holds no
 * .sql). The npm package ships that folder whole, and nothing else of src/ (`files` in
 * package.json), so every migration added there is installed with the CLI.
 */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../src/store/sql/', import.meta.url));

/**
 * The plugin helpers an author vendors next to a plugin (taskhost.sh, taskhost_plugin.py),
 * printed by `taskhost plugin helper` and written by `taskhost plugin new`. Like the
 * migrations, they are read from src/ in both layouts, and the package ships that folder.
 */
export const HELPERS_DIR = fileURLToPath(new URL('../src/plugins/helpers/', import.meta.url));

/**
 * The dashboard's built assets (`npm run build` writes them; src/ui/ is their source). The
 * index page is rendered per request by src/api/ui.ts, so this folder holds scripts and styles.
 */
export const UI_ASSETS_DIR = fileURLToPath(new URL('../dist/ui/', import.meta.url));
