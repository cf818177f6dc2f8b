import fs from 'node:fs/promises';
import path from 'node:path';
import { TaskhostError } from '../errors.ts';
import type { TemplateIssue } from './errors.ts';
import { parseYaml, type YamlSource } from './yaml-source.ts';

/** Reading template and function files. */

/** Whether a file name is a YAML file to load (`*.yaml`, `*.yml`, not hidden). */
function isYamlFile(name: string): boolean {
  return /\.ya?ml$/.test(name) && !name.startsWith('.');
}

/**
 * The YAML files of a directory, sorted by path, subdirectories included when `recursive`
 * (functions, as µTask loads them; templates are read from the directory itself, which
 * leaves its functions/ folder alone). A missing directory is TH_TEMPLATE_NOT_FOUND.
 */
export async function yamlFiles(dir: string, recursive: boolean): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new TaskhostError('TH_TEMPLATE_NOT_FOUND', `no such directory: ${dir}`, { cause: error });
    }
    throw error;
  }
  const found: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (recursive && !entry.name.startsWith('.')) found.push(...(await yamlFiles(full, true)));
    } else if (isYamlFile(entry.name)) {
      found.push(full);
    }
  }
  return found.sort();
}

/** Reads and parses one file; an unreadable file or a YAML syntax error comes back as issues. */
export async function readSource(file: string): Promise<{ source?: YamlSource; issues: TemplateIssue[] }> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a directory, not a file' : code;
    return { issues: [{ file, line: 1, column: 1, path: '', message: `cannot read the file: ${why}` }] };
  }
  return parseYaml(file, text);
}
