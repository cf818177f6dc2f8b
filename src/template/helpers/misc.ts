/**
 * sprig's path functions (Go's path package; the os… forms are the same on Linux), its
 * URL functions (urlParse, urlJoin, after Go's net/url) and its reflection functions
 * (typeOf, kindOf … over the Go types of `go-values.ts`).
 */
import path from 'node:path';
import { deepEqual, goKindOf, goTypeOf, isDict } from './go-values.ts';
import { fixed, HelperError, str, type Helper, type HelperTable } from './helper.ts';

/** Go's path.Clean: no trailing slash, "." for empty. */
export function cleanPath(text: string): string {
  if (text === '') return '.';
  const normalized = path.posix.normalize(text);
  return normalized.length > 1 && normalized.endsWith('/') ? normalized.slice(0, -1) : normalized;
}

function basePath(text: string): string {
  if (text === '') return '.';
  const trimmed = text.replace(/\/+$/, '');
  if (trimmed === '') return '/';
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

function dirPath(text: string): string {
  return cleanPath(text.slice(0, text.lastIndexOf('/') + 1));
}

function extPath(text: string): string {
  for (let i = text.length - 1; i >= 0 && text[i] !== '/'; i--) if (text[i] === '.') return text.slice(i);
  return '';
}

const URL_PATTERN = /^(?:([A-Za-z][A-Za-z0-9+.-]*):)?(?:\/\/([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/;

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new HelperError(`unable to parse url: invalid URL escape in ${JSON.stringify(text)}`);
  }
}

function urlParse(text: string): Record<string, string> {
  const match = URL_PATTERN.exec(text);
  if (!match) throw new HelperError(`unable to parse url: ${text}`);
  const scheme = (match[1] ?? '').toLowerCase();
  const authority = match[2];
  let rest = match[3] ?? '';
  let opaque = '';
  if (scheme !== '' && authority === undefined && rest !== '' && !rest.startsWith('/')) {
    opaque = rest;
    rest = '';
  }
  const at = authority?.lastIndexOf('@') ?? -1;
  const userinfo = authority !== undefined && at >= 0 ? authority.slice(0, at) : '';
  const host = authority !== undefined ? authority.slice(at + 1) : '';
  const hostname = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  return {
    scheme,
    host,
    hostname,
    path: decode(rest),
    query: match[4] ?? '',
    opaque,
    fragment: decode(match[5] ?? ''),
    userinfo,
  };
}

function field(dict: Record<string, unknown>, key: string): string {
  const value = dict[key];
  if (value === undefined) return '';
  if (typeof value !== 'string') {
    throw new HelperError(`unable to parse ${key} key, must be of type string, but ${goKindOf(value)} found`);
  }
  return value;
}

function urlJoin(dict: unknown): string {
  if (!isDict(dict)) throw new HelperError(`urlJoin: expected a dict, got ${goKindOf(dict)}`);
  const scheme = field(dict, 'scheme');
  const host = field(dict, 'host');
  const pathname = field(dict, 'path');
  const query = field(dict, 'query');
  const opaque = field(dict, 'opaque');
  const fragment = field(dict, 'fragment');
  const userinfo = field(dict, 'userinfo');
  let out = scheme === '' ? '' : `${scheme}:`;
  if (opaque !== '') out += opaque;
  else {
    if (scheme !== '' || host !== '' || userinfo !== '') {
      if (host !== '' || pathname !== '' || userinfo !== '') out += '//';
      if (userinfo !== '') out += `${userinfo}@`;
      out += host;
    }
    const escaped = encodeURI(pathname).replace(/[?#]/g, encodeURIComponent);
    if (pathname !== '' && !pathname.startsWith('/') && host !== '') out += '/';
    out += escaped;
  }
  if (query !== '') out += `?${query}`;
  if (fragment !== '') out += `#${encodeURI(fragment)}`;
  return out;
}

const pathHelper = (fn: (text: string) => unknown): Helper => fixed(1, (value) => fn(str(value)));

export const miscHelpers: HelperTable = {
  base: pathHelper(basePath),
  dir: pathHelper(dirPath),
  clean: pathHelper(cleanPath),
  ext: pathHelper(extPath),
  isAbs: pathHelper((text) => text.startsWith('/')),
  osBase: pathHelper(basePath),
  osDir: pathHelper(dirPath),
  osClean: pathHelper(cleanPath),
  osExt: pathHelper(extPath),
  osIsAbs: pathHelper((text) => text.startsWith('/')),
  urlParse: pathHelper(urlParse),
  urlJoin: fixed(1, urlJoin),
  typeOf: fixed(1, (value) => goTypeOf(value)),
  typeIs: fixed(2, (target, value) => str(target) === goTypeOf(value)),
  typeIsLike: fixed(2, (target, value) => {
    const type = goTypeOf(value);
    return str(target) === type || `*${str(target)}` === type;
  }),
  kindOf: fixed(1, (value) => goKindOf(value)),
  kindIs: fixed(2, (target, value) => str(target) === goKindOf(value)),
  deepEqual: fixed(2, (a, b) => deepEqual(a, b)),
};
