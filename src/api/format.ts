import type { FastifyReply } from 'fastify';
import { XMLBuilder } from 'fast-xml-parser';
import { stringify as toYaml } from 'yaml';

export type ListFormat = 'json' | 'yaml' | 'csv' | 'xml';

export const formatQuery = {
  format: { type: 'string', enum: ['json', 'yaml', 'csv', 'xml'], default: 'json' },
} as const;

function csvCell(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (Array.isArray(value) && value.every((item) => typeof item !== 'object')) text = value.join(';');
  else if (typeof value === 'object') text = JSON.stringify(value);
  else text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const xmlBuilder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  format: true,
  suppressEmptyNode: true,
  // Otherwise an attribute whose value is "true" is written bare (`<x nil/>`), which is not XML.
  suppressBooleanAttributes: false,
});

/** An element name any XML parser takes (ASCII, not starting with `xml`); other keys become entries. */
const XML_NAME = /^(?!xml)[A-Za-z_][A-Za-z0-9_.-]*$/i;
/** Characters XML 1.0 cannot carry, even escaped (C0 controls but tab, newline and return; lone surrogates). */
const NOT_XML =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A JSON value as fast-xml-parser's builder takes it: an object's keys are elements (a key
 * that is no XML name, such as a tag `team name`, is `<entry key="team name">`), a list's
 * items are `<item>` elements, null is an empty element with `nil="true"`, scalars are
 * text. Characters XML cannot carry become U+FFFD.
 */
function xmlValue(value: unknown): unknown {
  if (value === null || value === undefined) return { '@_nil': 'true' };
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.length === 0 ? '' : { item: value.map(xmlValue) };
  if (typeof value === 'object') {
    const element: Record<string, unknown> = {};
    const entries: unknown[] = [];
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      // `entry` is the element of the other keys: a key named so goes with them.
      if (XML_NAME.test(key) && key !== 'entry') element[key] = xmlValue(item);
      else entries.push(keyed(key.replace(NOT_XML, '\uFFFD'), xmlValue(item)));
    }
    if (entries.length > 0) element.entry = entries;
    return Object.keys(element).length === 0 ? '' : element;
  }
  if (typeof value === 'string') return value.replace(NOT_XML, '\uFFFD');
  return String(value);
}

function keyed(key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null) return { '@_key': key, ...value };
  return { '@_key': key, '#text': value };
}

/**
 * A list as an XML document: `<{element}s>` with one `<{element}>` per item, each value as
 * `xmlValue` writes it.
 */
export function toXml(items: readonly Record<string, unknown>[], element: string): string {
  const document = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    [`${element}s`]: items.length === 0 ? '' : { [element]: items.map(xmlValue) },
  };
  return xmlBuilder.build(document) as string;
}

/**
 * Sends a list as JSON, YAML, CSV or XML (`?format=`), as µTask's list endpoints and the
 * task registry of seed 004 offer them. In XML the list is `<{element}s>` with one
 * `<{element}>` per item (`<tasks><task>…</task></tasks>`).
 */
export function sendList(
  reply: FastifyReply,
  format: ListFormat,
  items: readonly Record<string, unknown>[],
  element = 'item',
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
  if (format === 'xml') return reply.type('application/xml').send(toXml(items, element));
  return reply.send(items);
}
