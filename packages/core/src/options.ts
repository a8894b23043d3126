import { UsageError } from '@headbench/errors';

/** One option a plugin declares: its type, default, allowed values and what it does. */
export type OptionSpec =
  | { type: 'number'; default: number; description: string; min?: number; max?: number; integer?: boolean; oneOf?: readonly number[] }
  | { type: 'boolean'; default: boolean; description: string }
  | { type: 'string'; default: string; description: string; oneOf?: readonly string[] };

export type OptionsSchema = Readonly<Record<string, OptionSpec>>;

type ValueOf<S extends OptionSpec> = S extends { type: 'number' } ? number : S extends { type: 'boolean' } ? boolean : string;

/** The resolved options of a schema: every key present with its declared type. */
export type ResolvedOptions<S extends OptionsSchema> = { -readonly [K in keyof S]: ValueOf<S[K]> };

/** What a user may pass: any subset of the keys. */
export type UserOptions<S extends OptionsSchema> = Partial<ResolvedOptions<S>>;

export type OptionValue = number | boolean | string;

function describeAllowed(spec: OptionSpec): string {
  if (spec.type === 'boolean') return 'true or false';
  if (spec.oneOf) return `one of ${spec.oneOf.join(', ')}`;
  if (spec.type === 'string') return 'a string';
  const range = [spec.min !== undefined ? `>= ${spec.min}` : '', spec.max !== undefined ? `<= ${spec.max}` : ''].filter(Boolean).join(' and ');
  return `${spec.integer ? 'an integer' : 'a number'}${range ? ` ${range}` : ''}`;
}

function checkValue(plugin: string, key: string, spec: OptionSpec, value: unknown): OptionValue {
  const fail = (what: string) =>
    new UsageError(`${plugin}: option ${key}=${JSON.stringify(value)} ${what}; expected ${describeAllowed(spec)} (${spec.description})`);
  switch (spec.type) {
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw fail('is not a number');
      if (spec.integer && !Number.isInteger(value)) throw fail('is not an integer');
      if (spec.oneOf && !spec.oneOf.includes(value)) throw fail('is not supported');
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) throw fail('is out of range');
      return value;
    }
    case 'boolean':
      if (typeof value !== 'boolean') throw fail('is not a boolean');
      return value;
    case 'string':
      if (typeof value !== 'string') throw fail('is not a string');
      if (spec.oneOf && !spec.oneOf.includes(value)) throw fail('is not supported');
      return value;
  }
}

/**
 * Validates user options against a plugin's schema and fills in defaults. Unknown keys, wrong
 * types and out-of-range values are errors that name the plugin, the key and what is allowed.
 */
export function resolveOptions<S extends OptionsSchema>(plugin: string, schema: S, given: Record<string, unknown> = {}): ResolvedOptions<S> {
  const resolved: Record<string, OptionValue> = {};
  for (const key of Object.keys(given)) {
    if (!(key in schema)) {
      const known = Object.keys(schema);
      throw new UsageError(`${plugin}: unknown option "${key}"; ${known.length ? `known options: ${known.join(', ')}` : 'it takes no options'}`);
    }
  }
  for (const [key, spec] of Object.entries(schema)) {
    const value = given[key];
    resolved[key] = value === undefined ? spec.default : checkValue(plugin, key, spec, value);
  }
  return resolved as ResolvedOptions<S>;
}

/**
 * Turns the strings of a command line (`alpha=0.5`) into the schema's types, so that
 * `resolveOptions` can check them like options given in code.
 */
export function coerceOptionStrings(plugin: string, schema: OptionsSchema, raw: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(raw)) {
    const spec = schema[key];
    if (!spec) {
      out[key] = text; // resolveOptions reports the unknown key with the list of known ones
      continue;
    }
    if (spec.type === 'number') {
      const n = text.trim() === '' ? Number.NaN : Number(text);
      if (Number.isNaN(n)) throw new UsageError(`${plugin}: option ${key}=${text} is not a number; expected ${describeAllowed(spec)} (${spec.description})`);
      out[key] = n;
    } else if (spec.type === 'boolean') {
      if (text !== 'true' && text !== 'false') throw new UsageError(`${plugin}: option ${key}=${text} is not a boolean; expected true or false (${spec.description})`);
      out[key] = text === 'true';
    } else {
      out[key] = text;
    }
  }
  return out;
}

/** A plugin named on the command line: `name` or `name:key=value,key=value`. */
export interface PluginSpecifier {
  name: string;
  options: Record<string, string>;
}

export function parseSpecifier(text: string): PluginSpecifier {
  const colon = text.indexOf(':');
  const name = (colon === -1 ? text : text.slice(0, colon)).trim();
  if (!name) throw new UsageError(`"${text}" names no plugin; write name or name:key=value,key=value`);
  const options: Record<string, string> = {};
  if (colon !== -1) {
    for (const pair of text.slice(colon + 1).split(',')) {
      if (!pair.trim()) continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`"${text}": "${pair}" is not key=value; write ${name}:key=value,key=value`);
      const key = pair.slice(0, eq).trim();
      if (key in options) throw new UsageError(`"${text}": option ${key} is given twice`);
      options[key] = pair.slice(eq + 1).trim();
    }
  }
  return { name, options };
}

/** The canonical text of a plugin with its resolved options, used as the row key in results. */
export function formatSpecifier(name: string, options: Record<string, OptionValue>, defaults?: Record<string, OptionValue>): string {
  const pairs = Object.entries(options)
    .filter(([k, v]) => !defaults || defaults[k] !== v)
    .map(([k, v]) => `${k}=${v}`);
  return pairs.length ? `${name}:${pairs.join(',')}` : name;
}
