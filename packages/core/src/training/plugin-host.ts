import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import type { LocalModule } from '../backbone/partition.js';
import { ConfigError } from '../errors.js';
import type { NamedVariable } from '../layers/layer.js';
import { rebuildPlugin } from './define-plugin.js';
import type { Head, HeadKey, HeadRequest, HeadRole, LocalLearningPlugin, LossTerm, SetupContext, StepContext } from './plugin.js';

/** Sort plugins by `enforce` (pre, normal, post), stable within each group. */
export function orderPlugins(plugins: readonly LocalLearningPlugin[]): LocalLearningPlugin[] {
  const rank = (p: LocalLearningPlugin) => (p.enforce === 'pre' ? 0 : p.enforce === 'post' ? 2 : 1);
  return plugins
    .map((plugin, index) => ({ plugin, index }))
    .sort((a, b) => rank(a.plugin) - rank(b.plugin) || a.index - b.index)
    .map(({ plugin }) => plugin);
}

/** The key under which the trainer stores the head for (module, role). */
export function headKey(moduleIndex: number, role: HeadRole): HeadKey {
  return `${moduleIndex}:${role}`;
}

// Plugin objects some trainer has used (one registry for every copy of this module in a process).
const usedKey = Symbol.for('mlaan.plugin.used');
const usedHolder = globalThis as unknown as Record<symbol, WeakSet<LocalLearningPlugin> | undefined>;
const usedPlugins: WeakSet<LocalLearningPlugin> = (usedHolder[usedKey] ??= new WeakSet());

/**
 * The plugin object a new trainer works on: the one given, or a fresh copy (same options) when
 * another trainer already used it, so plugin state is per trainer.
 */
function claimPlugin(plugin: LocalLearningPlugin): LocalLearningPlugin {
  if (plugin === null || typeof plugin !== 'object' || typeof plugin.name !== 'string') {
    throw new ConfigError(`plugins must be plugin objects made by their factories (dgl(), mlm(), ...); got ${plugin === null ? 'null' : typeof plugin}.`);
  }
  if (!usedPlugins.has(plugin)) {
    usedPlugins.add(plugin);
    return plugin;
  }
  const fresh = rebuildPlugin(plugin);
  if (!fresh) {
    throw new ConfigError(
      `Plugin '${plugin.name}' was already given to another trainer and cannot make a fresh copy of itself (it was not made with definePlugin); call its factory again for each trainer.`,
    );
  }
  usedPlugins.add(fresh);
  return fresh;
}

/**
 * Runs the plugins' hooks in order and combines their answers by the rules in the table on
 * `LocalLearningPlugin` (sequential, waterfall, first wins, collect); the trainer calls it and
 * never a plugin directly.
 */
export class PluginHost {
  /** In the order their hooks run (`enforce`, then as given). */
  readonly plugins: readonly LocalLearningPlugin[];

  /** What the plugins' `setup` hooks returned to undo themselves, in plugin order. */
  private readonly undos: (() => void)[] = [];

  constructor(plugins: readonly LocalLearningPlugin[]) {
    if (!Array.isArray(plugins)) throw new ConfigError(`plugins must be an array of plugin objects, e.g. [dgl(), ...withMLAAN()]; got ${typeof plugins}.`);
    const names = plugins.map((p) => p?.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new ConfigError(`Plugin '${duplicate}' was given twice; each plugin may appear once.`);
    const hosts = plugins.filter((p) => p?.host);
    if (hosts.length > 1) {
      throw new ConfigError(
        `Plugins ${hosts.map((p) => `'${p.name}'`).join(' and ')} are both hosts (each supplies every module's local loss heads); give one host per trainer.`,
      );
    }
    this.plugins = orderPlugins(plugins.map(claimPlugin));
  }

  get names(): string[] {
    return this.plugins.map((p) => p.name);
  }

  /** `setup`: sequential; each undo it returns is kept for `dispose`. */
  setup(context: SetupContext): void {
    for (const p of this.plugins) {
      const undo = p.setup?.(context);
      if (typeof undo === 'function') this.undos.push(undo);
    }
  }

  /** `terms`: a waterfall from `defaults`. */
  terms(defaults: LossTerm[], context: SetupContext): LossTerm[] {
    let terms = defaults;
    for (const p of this.plugins) if (p.terms) terms = p.terms(terms, context);
    return terms;
  }

  /**
   * One head per (module at a term's span end, role): `headInput` waterfall, then the first
   * `createHead` that answers (the backbone's classifier by default for the last module), then the
   * `wrapHead` waterfall.
   */
  createHeads(terms: readonly LossTerm[], context: SetupContext, lastModuleHead: Head): Map<HeadKey, Head> {
    const rolesByModule = new Map<number, Set<HeadRole>>();
    for (const t of terms) {
      const roles = rolesByModule.get(t.span[1]) ?? new Set<HeadRole>();
      roles.add(t.role);
      rolesByModule.set(t.span[1], roles);
    }
    const heads = new Map<HeadKey, Head>();
    for (const t of terms) {
      const key = headKey(t.span[1], t.role);
      if (!heads.has(key)) heads.set(key, this.createHead(t.span[1], t.role, rolesByModule.get(t.span[1])!, context, lastModuleHead));
    }
    return heads;
  }

  private createHead(moduleIndex: number, role: HeadRole, roles: Set<HeadRole>, context: SetupContext, lastModuleHead: Head): Head {
    const module = context.modules[moduleIndex]!;
    const request: HeadRequest = {
      moduleIndex,
      role,
      module,
      isLast: moduleIndex === context.modules.length - 1,
      roles,
      input: { channels: module.outputChannels, size: module.outputSize(context.backbone.inputSize) },
    };
    for (const p of this.plugins) request.input = p.headInput?.(request, context) ?? request.input;
    let head: Head | undefined;
    for (const p of this.plugins) {
      head = p.createHead?.(request, context);
      if (head) break;
    }
    if (!head && request.isLast) head = lastModuleHead;
    if (!head) {
      throw new ConfigError(
        `No plugin makes the '${role}' head of module ${moduleIndex} (only the last module has a default head, the backbone's classifier). ` +
          'Add a host plugin to `plugins`, such as dgl() from @mlaan/dgl or infoPro() from @mlaan/infopro, or train end to end without `cuts`.',
      );
    }
    for (const p of this.plugins) if (p.wrapHead) head = p.wrapHead(head, request, context);
    return head;
  }

  /** `namedParameters` or `namedBuffers`: collected, plugin order. */
  collect(kind: 'parameters' | 'buffers'): NamedVariable[] {
    return this.plugins.flatMap((p) => (kind === 'parameters' ? p.namedParameters?.() : p.namedBuffers?.()) ?? []);
  }

  /** `afterBackward`: sequential, every step before weight decay and the optimizer step. */
  afterBackward(context: StepContext): void {
    for (const p of this.plugins) p.afterBackward?.(context);
  }

  /** The variables `afterBackward` reads for module `moduleIndex`'s heads (`stateReads`): collected. */
  stateReads(moduleIndex: number): NamedVariable[] {
    return this.plugins.flatMap((p) => p.stateReads?.(moduleIndex) ?? []);
  }

  /** `dispose`: the setups' undos in reverse order, then the plugins' `dispose` in reverse order, then every head once. */
  dispose(heads: Iterable<Head>): void {
    for (const undo of this.undos.splice(0).reverse()) undo();
    for (const p of [...this.plugins].reverse()) p.dispose?.();
    for (const h of new Set(heads)) h.dispose?.();
  }
}

/**
 * Every variable of the backbone, the heads and the plugins, named and deduplicated (a variable
 * shared by two heads is listed once); two different variables under one name are an error.
 */
export function collectNamedVariables(
  kind: 'parameters' | 'buffers',
  backbone: Backbone,
  heads: Iterable<Head>,
  host: PluginHost,
): NamedVariable[] {
  const out: NamedVariable[] = [];
  const seen = new Set<tf.Variable>();
  const byName = new Map<string, tf.Variable>();
  const groups =
    kind === 'parameters'
      ? [backbone.namedParameters(), ...[...heads].map((h) => h.namedParameters()), host.collect('parameters')]
      : [backbone.namedBuffers(), ...[...heads].map((h) => h.namedBuffers?.() ?? []), host.collect('buffers')];
  for (const list of groups) {
    for (const [name, v] of list) {
      if (seen.has(v)) continue;
      const other = byName.get(name);
      if (other && other !== v) throw new ConfigError(`Two different variables are both named '${name}'.`);
      seen.add(v);
      byName.set(name, v);
      out.push([name, v]);
    }
  }
  return out;
}

/** Module `index`'s own parameters by name, to route its backward's gradients. */
export function moduleParameterMaps(modules: readonly LocalModule[]): Map<string, tf.Variable>[] {
  return modules.map((m) => new Map(m.namedParameters()));
}
