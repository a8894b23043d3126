import { UsageError } from '@headbench/errors';
import { type OptionSpec, type OptionValue, describeValue, notAPlugin, type Plugin, type PluginKind, type PluginOfKind } from '@headbench/core';
import { tf } from '@headbench/engine';

/**
 * A plugin that breaks the contract. The message names the plugin and the check, says what was
 * found and what was expected, so that a failing test says what to fix without a debugger.
 */
export class ConformanceError extends Error {
  override name = 'ConformanceError';
}

/**
 * Any plugin factory, whatever its own options type: `gap`, `mobilenetv2`, a package's default
 * export. The kit calls it with options of its own choosing (unknown keys on purpose, say).
 */
export type FactoryOf<P extends Plugin> = (options?: never) => P;

/** The factory as the kit calls it. */
export type Make<P extends Plugin> = (options?: Record<string, unknown>) => P;

/** One check of the kit: a title for the test, and the function that throws a ConformanceError. */
export interface Check<P extends Plugin, O> {
  id: string;
  title: string;
  run(factory: FactoryOf<P>, options?: O): Promise<void>;
}

export const NAME_PATTERN = /^[a-z][a-z0-9-]*$/;

// semver.org's own pattern: MAJOR.MINOR.PATCH with optional pre-release and build metadata.
export const SEMVER_PATTERN =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** Reports a failed check: `head "gap", output shape: features [3, 3, 16] ... expected ...`. */
export function fail(subject: string, check: string, detail: string): never {
  throw new ConformanceError(`${subject}, ${check}: ${detail}`);
}

export function subjectOf(kind: PluginKind, factory: unknown): string {
  try {
    const name = (factory as Make<Plugin>)().meta.name;
    return `${kind} "${name}"`;
  } catch {
    return `${kind} ${typeof factory === 'function' && factory.name ? factory.name : '(unnamed factory)'}`;
  }
}

export function formatShape(dims: readonly (number | null)[]): string {
  return `[${dims.map((d) => d ?? 'null').join(', ')}]`;
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A UsageError from any copy of core (two installed copies make `instanceof` unreliable). */
export function isUsageError(error: unknown): error is Error {
  return error instanceof UsageError || (error instanceof Error && error.name === 'UsageError');
}

/** Calls the factory, turning a throw into a failure of `check` that says which options it was given. */
export function make<P extends Plugin>(factory: FactoryOf<P>, subject: string, check: string, options?: Record<string, unknown>): P {
  try {
    return (factory as unknown as Make<P>)(options);
  } catch (error) {
    fail(subject, check, `calling the factory with ${options ? JSON.stringify(options) : 'no options'} threw: ${messageOf(error)}`);
  }
}

/** The largest absolute difference between two tensors of one shape. */
export function maxDifference(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] ?? Number.NaN);
}

export function allFinite(t: tf.Tensor): boolean {
  return tf.tidy(() => tf.all(tf.isFinite(t)).dataSync()[0] === 1);
}

/** meta: a well-formed plugin of `kind`, made by calling the factory with no options. */
export function checkMeta<K extends PluginKind>(factory: unknown, kind: K): PluginOfKind<K> {
  const check = 'meta';
  if (typeof factory !== 'function') {
    fail(kind, check, `the factory is ${describeValue(factory)}; a plugin package default-exports a function that returns the plugin`);
  }
  const subject = subjectOf(kind, factory);
  let plugin: unknown;
  try {
    plugin = (factory as Make<Plugin>)();
  } catch (error) {
    fail(subject, check, `calling the factory with no options threw: ${messageOf(error)}; every option needs a default`);
  }
  const problem = notAPlugin(plugin);
  if (problem) fail(subject, check, `the factory returned ${problem}`);
  const { meta, schema, options } = plugin as Plugin;
  if (meta.kind !== kind) fail(subject, check, `meta.kind is ${JSON.stringify(meta.kind)}; expected "${kind}"`);
  if (!NAME_PATTERN.test(meta.name)) {
    fail(subject, check, `meta.name ${JSON.stringify(meta.name)} does not match ${NAME_PATTERN}; users type it (--${kind} ${meta.name}), so lowercase letters, digits and dashes`);
  }
  if (!SEMVER_PATTERN.test(meta.version)) {
    fail(subject, check, `meta.version ${JSON.stringify(meta.version)} is not a semantic version such as 1.2.3; read it from the package's package.json`);
  }
  if (meta.description !== undefined && (typeof meta.description !== 'string' || !meta.description.trim())) {
    fail(subject, check, `meta.description is ${describeValue(meta.description)}; give a sentence or leave it out`);
  }
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) fail(subject, check, `schema is ${describeValue(schema)}; expected an object of option specs ({} for none)`);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail(subject, check, `options is ${describeValue(options)}; expected the resolved options object`);
  const keys = (o: object) => Object.keys(o).sort().join(', ') || '(none)';
  if (keys(options) !== keys(schema)) fail(subject, check, `options has keys ${keys(options)} but schema declares ${keys(schema)}; every declared option must be resolved`);
  return plugin as PluginOfKind<K>;
}

function specProblem(spec: OptionSpec): string | undefined {
  const type = (spec as { type?: unknown }).type;
  if (type !== 'number' && type !== 'boolean' && type !== 'string') return `type ${JSON.stringify(type)} is not number, boolean or string`;
  if (typeof spec.description !== 'string' || !spec.description.trim()) return 'has no description (the CLI and docs show it)';
  if (typeof spec.default !== type) return `default ${JSON.stringify(spec.default)} is not a ${type}`;
  if (spec.type === 'number') {
    const d = spec.default;
    if (!Number.isFinite(d)) return `default ${d} is not finite`;
    if (spec.integer && !Number.isInteger(d)) return `default ${d} is not an integer`;
    if (spec.min !== undefined && d < spec.min) return `default ${d} is below min ${spec.min}`;
    if (spec.max !== undefined && d > spec.max) return `default ${d} is above max ${spec.max}`;
    if (spec.oneOf && !spec.oneOf.includes(d)) return `default ${d} is not one of ${spec.oneOf.join(', ')}`;
  }
  if (spec.type === 'string' && spec.oneOf && !spec.oneOf.includes(spec.default)) return `default ${JSON.stringify(spec.default)} is not one of ${spec.oneOf.join(', ')}`;
  return undefined;
}

// A value of the wrong type for each kind of option, which validation must refuse.
const WRONG_TYPE: Record<OptionSpec['type'], unknown> = { number: 'not-a-number', boolean: 'yes', string: 42 };

const UNKNOWN_KEY = 'conformanceUnknownOption';

/**
 * options: the schema is well-formed; no options gives the defaults; an unknown key and a value
 * of the wrong type are refused with a UsageError naming the key; each default is accepted.
 */
export function checkOptions(factory: FactoryOf<Plugin>, kind: PluginKind): void {
  const check = 'options';
  const plugin = checkMeta(factory, kind);
  const subject = `${kind} "${plugin.meta.name}"`;
  const call = factory as unknown as Make<Plugin>;
  for (const [key, spec] of Object.entries(plugin.schema)) {
    const problem = specProblem(spec);
    if (problem) fail(subject, check, `option ${key}: ${problem}`);
    if (plugin.options[key] !== spec.default) {
      fail(subject, check, `with no options, ${key} is ${JSON.stringify(plugin.options[key])}; expected its default ${JSON.stringify(spec.default)}`);
    }
  }

  const refuses = (given: Record<string, unknown>, key: string, what: string) => {
    let made: Plugin;
    try {
      made = call(given);
    } catch (error) {
      if (!isUsageError(error)) {
        fail(subject, check, `${what} (${JSON.stringify(given)}) threw ${error instanceof Error ? error.name : typeof error} "${messageOf(error)}"; expected a UsageError, which the CLI prints without a stack trace`);
      }
      if (!error.message.includes(key)) fail(subject, check, `${what} (${JSON.stringify(given)}) was refused with "${error.message}", which does not name the option ${key}`);
      return;
    }
    fail(subject, check, `${what} (${JSON.stringify(given)}) was accepted (options became ${JSON.stringify(made.options)}); validate options with resolveOptions or defineHead/defineBackbone`);
  };
  refuses({ [UNKNOWN_KEY]: 1 }, UNKNOWN_KEY, 'an unknown option');
  for (const [key, spec] of Object.entries(plugin.schema)) {
    refuses({ [key]: WRONG_TYPE[spec.type] }, key, `option ${key} of the wrong type`);
    let made: Plugin;
    try {
      made = call({ [key]: spec.default });
    } catch (error) {
      fail(subject, check, `option ${key}=${JSON.stringify(spec.default)}, its own default, was refused: ${messageOf(error)}`);
    }
    const value: OptionValue | undefined = made.options[key];
    if (value !== spec.default) fail(subject, check, `given ${key}=${JSON.stringify(spec.default)}, options.${key} is ${JSON.stringify(value)}`);
  }
}

/** Runs checks in order and throws one ConformanceError listing every failure (meta first: the others rely on it). */
export async function runChecks<P extends Plugin, O>(checks: readonly Check<P, O>[], factory: FactoryOf<P>, options?: O): Promise<void> {
  const failures: string[] = [];
  for (const check of checks) {
    try {
      await check.run(factory, options);
    } catch (error) {
      failures.push(messageOf(error));
      if (check.id === 'meta') break;
    }
  }
  if (failures.length) throw new ConformanceError(`${failures.length} conformance check(s) failed:\n- ${failures.join('\n- ')}`);
}
