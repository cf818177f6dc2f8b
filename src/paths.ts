import { fileURLToPath } from 'node:url';

/**
 * The package root. This file sits one level below it both as source (src/paths.ts,
 * run by tsx in tests) and compiled (dist/paths.js), so one relative URL serves both.
 */
export const PACKAGE_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** JSON Schemas shipped with taskhost (protocol envelopes, plugin self-description). */
export const SCHEMAS_DIR = fileURLToPath(new URL('../schemas/', import.meta.url));

/** Versioned SQL migrations; read from src/ in both layouts, as tsc copies no .sql. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../src/store/sql/', import.meta.url));
