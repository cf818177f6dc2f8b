/**
 * sprig's semver and semverCompare, with Masterminds/semver's leniency: "v1.2" is 1.2.0,
 * constraints join with "," or spaces (AND) and "||" (OR), `!=` is allowed. Comparisons
 * are npm's `semver` package (the same precedence rules, SemVer 2.0.0), which the
 * constraint operators `=`, `<`, `>`, `<=`, `>=`, `~`, `^`, `x` wildcards and hyphen ranges
 * share with Masterminds'.
 */
import semverLib from 'semver';
import { GO_JSON, GO_STRING, GO_TYPE, type GoStruct } from './go-values.ts';
import { fixed, HelperError, str, type HelperTable } from './helper.ts';

const LENIENT = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/;

/** Masterminds' *semver.Version: fields as Go names them, printed as its String(). */
export class SemverValue implements GoStruct {
  readonly Major: number;
  readonly Minor: number;
  readonly Patch: number;
  readonly Prerelease: string;
  readonly Metadata: string;
  readonly Original: string;

  constructor(text: string) {
    const match = LENIENT.exec(text.trim());
    if (!match) throw new HelperError('Invalid Semantic Version');
    this.Major = Number(match[1]);
    this.Minor = Number(match[2] ?? 0);
    this.Patch = Number(match[3] ?? 0);
    this.Prerelease = match[4] ?? '';
    this.Metadata = match[5] ?? '';
    this.Original = text;
  }

  get normalized(): string {
    return `${this.Major}.${this.Minor}.${this.Patch}${this.Prerelease ? `-${this.Prerelease}` : ''}`;
  }

  [GO_STRING](): string {
    return this.normalized + (this.Metadata ? `+${this.Metadata}` : '');
  }

  [GO_TYPE](): string {
    return '*semver.Version';
  }

  [GO_JSON](): unknown {
    return this[GO_STRING]();
  }
}

function satisfiesComparator(version: SemverValue, comparator: string): boolean {
  const notEqual = /^!=\s*(.+)$/.exec(comparator);
  if (notEqual) {
    const target = (notEqual[1] ?? '').trim();
    if (/[xX*]/.test(target)) return !semverLib.satisfies(version.normalized, target);
    return semverLib.neq(version.normalized, new SemverValue(target).normalized);
  }
  let range: semverLib.Range;
  try {
    range = new semverLib.Range(comparator);
  } catch {
    throw new HelperError(`improper constraint: ${comparator}`);
  }
  return range.test(version.normalized);
}

/** Masterminds' Constraints.Check: OR of AND groups. */
export function semverSatisfies(constraint: string, version: SemverValue): boolean {
  return constraint.split('||').some((group) => {
    const comparators = group
      .replace(/([<>=!~^]+)\s+/g, '$1')
      .split(/\s*,\s*|\s+(?![-\s])/)
      .map((part) => part.trim())
      .filter((part) => part !== '');
    if (comparators.length === 0) throw new HelperError(`improper constraint: ${constraint}`);
    const hyphen = /\s-\s/.test(group);
    if (hyphen) return satisfiesComparator(version, group.trim());
    return comparators.every((comparator) => satisfiesComparator(version, comparator));
  });
}

export const semverHelpers: HelperTable = {
  semver: fixed(1, (text) => new SemverValue(str(text))),
  semverCompare: fixed(2, (constraint, version) =>
    semverSatisfies(str(constraint), new SemverValue(str(version))),
  ),
};
