import type { FastifyReply } from 'fastify';
import { stringify as toYaml } from 'yaml';

export type ListFormat = 'json' | 'yaml' | 'csv';

export const formatQuery = {
  format: { type: 'string', enum: ['json', 'yaml', 'csv'], default: 'json' },
} as const;

function csvCell(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (Array.isArray(value) && value.every((item) => typeof item !== 'object')) text = value.join(';');
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Sends a list as JSON, YAML or CSV (`?format=`), as µTask's list endpoints do. */
export function sendList(
  reply: FastifyReply,
  format: ListFormat,
  items: readonly Record<string, unknown>[],
): FastifyReply {
  if (format === 'yaml') return reply.type('application/yaml').send(toYaml(items));
  if (format === 'csv') {
    const columns = [...new Set(items.flatMap((item) => Object.keys(item)))];
    const lines = [
      columns.join(','),
      ...items.map((item) => columns.map((column) => csvCell(item[column])).join(',')),
    ];
    return reply.type('text/csv').send(`${lines.join('\n')}\n`);
  }
  return reply.send(items);
}
