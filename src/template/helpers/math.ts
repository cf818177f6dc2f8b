/**
 * sprig's numeric.go and the arithmetic of its FuncMap. Integer helpers convert as
 * spf13/cast does (`toInt64`: "12" → 12, 1.9 → 1, junk → 0) and compute as Go's int64
 * (division truncates; dividing by zero is an error). The `…f` helpers compute in decimal,
 * as sprig's shopspring/decimal does, so `addf 1.1 2.2` is 3.3, not 3.3000000000000003.
 */
import { randomInt } from 'node:crypto';
import { formatValue, toFloat64, toInt64 } from './go-values.ts';
import { expectArgs, fixed, HelperError, int, type HelperTable } from './helper.ts';
import { untilStep } from './lists.ts';

/** An exact decimal: value = units × 10^-scale. */
interface Decimal {
  units: bigint;
  scale: number;
}

function toDecimal(value: number): Decimal {
  if (!Number.isFinite(value)) throw new HelperError(`cannot use ${value} in decimal arithmetic`);
  const [mantissa = '0', exponentText = '0'] = value.toExponential().split('e');
  const exponent = Number(exponentText);
  const digits = mantissa.replace('.', '').replace('-', '');
  const fraction = (mantissa.split('.')[1] ?? '').length;
  const scale = fraction - exponent;
  const units = BigInt(digits) * (value < 0 ? -1n : 1n);
  return scale >= 0 ? { units, scale } : { units: units * 10n ** BigInt(-scale), scale: 0 };
}

function align(a: Decimal, b: Decimal): [bigint, bigint, number] {
  const scale = Math.max(a.scale, b.scale);
  return [a.units * 10n ** BigInt(scale - a.scale), b.units * 10n ** BigInt(scale - b.scale), scale];
}

function fromDecimal(d: Decimal): number {
  const negative = d.units < 0n;
  const digits = (negative ? -d.units : d.units).toString().padStart(d.scale + 1, '0');
  const text = d.scale === 0 ? digits : `${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`;
  return Number((negative ? '-' : '') + text);
}

type DecimalOp = (a: Decimal, b: Decimal) => Decimal;

const decimalOps: Record<'add' | 'sub' | 'mul' | 'div', DecimalOp> = {
  add: (a, b) => {
    const [x, y, scale] = align(a, b);
    return { units: x + y, scale };
  },
  sub: (a, b) => {
    const [x, y, scale] = align(a, b);
    return { units: x - y, scale };
  },
  mul: (a, b) => ({ units: a.units * b.units, scale: a.scale + b.scale }),
  // shopspring's Div: 16 fractional digits, the last rounded half away from zero.
  div: (a, b) => {
    if (b.units === 0n) throw new HelperError('decimal division by 0');
    const precision = 16;
    const numerator = a.units * 10n ** BigInt(precision + 1 + b.scale);
    const denominator = b.units * 10n ** BigInt(a.scale);
    let quotient = numerator / denominator;
    quotient = (quotient + (quotient < 0n ? -5n : 5n)) / 10n;
    return { units: quotient, scale: precision };
  },
};

function decimal(first: unknown, rest: readonly unknown[], op: DecimalOp): number {
  return fromDecimal(
    rest.reduce<Decimal>((acc, value) => op(acc, toDecimal(toFloat64(value))), toDecimal(toFloat64(first))),
  );
}

function intDivide(a: number, b: number, op: 'div' | 'mod'): number {
  if (b === 0) throw new HelperError('runtime error: integer divide by zero');
  return op === 'div' ? Math.trunc(a / b) : a % b;
}

/** sprig's seq: like the `seq` command, `seq 5`, `seq 2 5`, `seq 0 2 10`, as a space-joined string. */
function seq(params: number[]): string {
  let values: number[];
  if (params.length === 1) {
    const end = params[0] ?? 0;
    const increment = end < 1 ? -1 : 1;
    values = untilStep(1, end + increment, increment);
  } else if (params.length === 2) {
    const [start = 0, end = 0] = params;
    const step = end < start ? -1 : 1;
    values = untilStep(start, end + step, step);
  } else if (params.length === 3) {
    const [start = 0, step = 0, end = 0] = params;
    const increment = end < start ? -1 : 1;
    if (end < start && step > 0) return '';
    values = untilStep(start, end + increment, step);
  } else {
    return '';
  }
  return values.join(' ');
}

function round(value: unknown, places: unknown, roundOn: unknown): number {
  const on = roundOn === undefined ? 0.5 : toFloat64(roundOn);
  const pow = 10 ** toFloat64(places);
  const digit = pow * toFloat64(value);
  const fraction = digit - Math.trunc(digit);
  return (fraction >= on ? Math.ceil(digit) : Math.floor(digit)) / pow;
}

export const mathHelpers: HelperTable = {
  add: (args) => args.reduce<number>((sum, value) => sum + toInt64(value), 0),
  add1: fixed(1, (value) => toInt64(value) + 1),
  sub: fixed(2, (a, b) => toInt64(a) - toInt64(b)),
  mul: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return args.reduce<number>((product, value) => product * toInt64(value), 1);
  },
  div: fixed(2, (a, b) => intDivide(toInt64(a), toInt64(b), 'div')),
  mod: fixed(2, (a, b) => intDivide(toInt64(a), toInt64(b), 'mod')),
  max: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return Math.max(...args.map(toInt64));
  },
  biggest: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return Math.max(...args.map(toInt64));
  },
  min: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return Math.min(...args.map(toInt64));
  },
  maxf: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return Math.max(...args.map(toFloat64));
  },
  minf: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return Math.min(...args.map(toFloat64));
  },
  floor: fixed(1, (value) => Math.floor(toFloat64(value))),
  ceil: fixed(1, (value) => Math.ceil(toFloat64(value))),
  round: (args, call) => {
    expectArgs(call.name, args, 2, 3);
    return round(args[0], args[1], args[2]);
  },
  add1f: fixed(1, (value) => decimal(value, [1], decimalOps.add)),
  addf: (args) => decimal(0, args, decimalOps.add),
  subf: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return decimal(args[0], args.slice(1), decimalOps.sub);
  },
  mulf: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return decimal(args[0], args.slice(1), decimalOps.mul);
  },
  divf: (args, call) => {
    expectArgs(call.name, args, 1, Infinity);
    return decimal(args[0], args.slice(1), decimalOps.div);
  },
  randInt: fixed(2, (min, max) => {
    const low = int(min);
    const high = int(max);
    if (high <= low) throw new HelperError('invalid argument to Intn');
    return low + randomInt(high - low);
  }),
  atoi: fixed(1, (value) => {
    const text = typeof value === 'string' ? value : formatValue(value);
    return /^[+-]?\d+$/.test(text) ? Number(text) : 0;
  }),
  int: fixed(1, (value) => toInt64(value)),
  int64: fixed(1, (value) => toInt64(value)),
  float64: fixed(1, (value) => toFloat64(value)),
  toDecimal: fixed(1, (value) => {
    const text = formatValue(value);
    return /^[+-]?[0-7]+$/.test(text) ? parseInt(text, 8) : 0;
  }),
  seq: (args) => seq(args.map(int)),
};
