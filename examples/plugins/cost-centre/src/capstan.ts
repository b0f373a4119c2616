// Capstan's plugin helpers for JavaScript and TypeScript (written by
// `capstan plugin new`).
//
// A thin layer over the bindings jco generates from wit/plugin.wit: objects
// arrive as an array of plain objects and the `with:` block as an object; a
// plugin returns objects, diagnostics or a status, and throws
// `InvalidConfig`, `InvalidInput` or `Failed` to fail a call. Wrap the
// plugin's function with the helper of its world and export the result
// under the interface's name:
//
//   export const validate = validator(check);       // world: validator
//   export const transform = transformer(change);   // world: transformer
//   export const render = renderer(generate);       // world: renderer
//   export const assess = health(check);            // world: health

import { log as witLog } from "capstan:plugin/log@0.1.0";

/** A Kubernetes object. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** Where a call runs: the Application, its namespace, the directory of the snapshot, the commit. */
export interface Context {
  app: string;
  namespace?: string;
  path: string;
  revision: string;
}

/** How bad a diagnostic is; `error` from an enforcing policy stops the sync. */
export type Severity = "error" | "warning" | "info";

/** A finding about an object (`object`), a field in it (`field`, see `field()`) or a file. */
export interface Diagnostic {
  severity: Severity;
  message: string;
  object?: KubeObject;
  field?: string;
  file?: string;
}

/** A health check's verdict. */
export interface Status {
  health: "healthy" | "progressing" | "degraded" | "missing" | "unknown";
  message: string;
}

/** What a renderer or transformer may return: objects, or objects and diagnostics. */
export type Objects = KubeObject[] | { objects: KubeObject[]; diagnostics: Diagnostic[] };

/** A call that fails; the message should name the file, object and field. */
export class PluginError extends Error {
  readonly kind: "invalid-config" | "invalid-input" | "failed" = "failed";
}

/** The `with:` parameters are not what the plugin accepts. */
export class InvalidConfig extends PluginError {
  override readonly kind = "invalid-config";
}

/** The snapshot or the input objects are not what the plugin accepts. */
export class InvalidInput extends PluginError {
  override readonly kind = "invalid-input";
}

/** Anything else went wrong inside the plugin. */
export class Failed extends PluginError {
  override readonly kind = "failed";
}

export function error(message: string, about?: KubeObject, at?: string, file?: string): Diagnostic {
  return { severity: "error", message, object: about, field: at, file };
}

export function warning(message: string, about?: KubeObject, at?: string, file?: string): Diagnostic {
  return { severity: "warning", message, object: about, field: at, file };
}

export function info(message: string, about?: KubeObject, at?: string, file?: string): Diagnostic {
  return { severity: "info", message, object: about, field: at, file };
}

/**
 * A field path as Kubernetes writes it: `field("spec", "containers", 0,
 * "image")` is `spec.containers[0].image`; a one-element array is a map
 * key, `field("metadata", "labels", ["app.kubernetes.io/name"])` is
 * `metadata.labels[app.kubernetes.io/name]`.
 */
export function field(...parts: (string | number | [string])[]): string {
  let out = "";
  for (const part of parts) {
    if (typeof part === "number") out += `[${part}]`;
    else if (Array.isArray(part)) out += `[${part[0]}]`;
    else out += out ? `.${part}` : part;
  }
  return out;
}

/** `Kind/namespace/name` (`Kind/name` when cluster-scoped), as the engine writes it. */
export function describe(obj: KubeObject): string {
  const namespace = obj.metadata?.namespace;
  const name = obj.metadata?.name ?? "";
  return namespace ? `${obj.kind ?? ""}/${namespace}/${name}` : `${obj.kind ?? ""}/${name}`;
}

/** The object's `metadata.labels`, created when absent. */
export function labels(obj: KubeObject): Record<string, string> {
  if (obj.metadata === undefined) obj.metadata = {};
  if (typeof obj.metadata !== "object" || obj.metadata === null) {
    throw new InvalidInput(`${describe(obj)}: metadata is not a map`);
  }
  if (obj.metadata.labels === undefined) obj.metadata.labels = {};
  if (typeof obj.metadata.labels !== "object" || obj.metadata.labels === null) {
    throw new InvalidInput(`${describe(obj)}: metadata.labels is not a map`);
  }
  return obj.metadata.labels;
}

/** A line in the engine's log under the plugin's name. */
export function log(level: "trace" | "debug" | "info" | "warn" | "error", message: string): void {
  witLog(level, message);
}

// The glue: WIT values in, the plugin's function, WIT values out.

interface WitContext {
  app: string;
  namespace?: string;
  path: string;
  revision: string;
}

function parseParams<P>(text: string): P {
  let params: unknown;
  try {
    params = text.trim() === "" ? {} : JSON.parse(text);
  } catch (e) {
    throw new InvalidConfig(`invalid \`with:\` parameters: ${(e as Error).message}`);
  }
  if (typeof params !== "object" || params === null || Array.isArray(params)) {
    throw new InvalidConfig("invalid `with:` parameters: not a map");
  }
  return params as P;
}

function parseObjects(items: string[]): KubeObject[] {
  return items.map((text, index) => {
    try {
      return JSON.parse(text) as KubeObject;
    } catch (e) {
      throw new InvalidInput(`item ${index} is not JSON: ${(e as Error).message}`);
    }
  });
}

function context(ctx: WitContext): Context {
  return { app: ctx.app, namespace: ctx.namespace, path: ctx.path, revision: ctx.revision };
}

function witDiagnostic(d: Diagnostic) {
  if (!["error", "warning", "info"].includes(d.severity)) {
    throw new Failed(`diagnostic severity ${JSON.stringify(d.severity)}: use error, warning or info`);
  }
  const object =
    d.object === undefined
      ? undefined
      : {
          apiVersion: String(d.object.apiVersion ?? ""),
          kind: String(d.object.kind ?? ""),
          namespace: d.object.metadata?.namespace,
          name: String(d.object.metadata?.name ?? ""),
        };
  return { severity: d.severity, message: d.message, object, field: d.field, file: d.file };
}

function witOutput(returned: Objects) {
  const { objects, diagnostics } = Array.isArray(returned) ? { objects: returned, diagnostics: [] } : returned;
  const items = objects.map((obj) => {
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new Failed("every returned object must be a plain object");
    }
    return JSON.stringify(obj);
  });
  return { items, results: diagnostics.map(witDiagnostic) };
}

/**
 * Runs `body`; a PluginError becomes the WIT error it names, anything else
 * thrown `failed` with its message (the stack goes to stderr, which the
 * engine logs). jco lowers a thrown value's `payload` as the error.
 */
function call<T>(body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof PluginError) throw { payload: { tag: e.kind, val: e.message } };
    console.error(e instanceof Error && e.stack ? e.stack : String(e));
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw { payload: { tag: "failed", val: message } };
  }
}

/** `fn(ctx, params)` returns objects, or `{objects, diagnostics}`. */
export function renderer<P = Record<string, unknown>>(fn: (ctx: Context, params: P) => Objects) {
  return {
    render(ctx: WitContext, params: string) {
      return call(() => witOutput(fn(context(ctx), parseParams<P>(params))));
    },
  };
}

/** `fn(objects, params, ctx)` returns the new objects (or `{objects, diagnostics}`); objects left out are removed. */
export function transformer<P = Record<string, unknown>>(fn: (objects: KubeObject[], params: P, ctx: Context) => Objects) {
  return {
    transform(ctx: WitContext, items: string[], params: string) {
      return call(() => witOutput(fn(parseObjects(items), parseParams<P>(params), context(ctx))));
    },
  };
}

/** `fn(objects, params, ctx)` returns one diagnostic per finding. */
export function validator<P = Record<string, unknown>>(fn: (objects: KubeObject[], params: P, ctx: Context) => Diagnostic[]) {
  return {
    validate(ctx: WitContext, items: string[], params: string) {
      return call(() => fn(parseObjects(items), parseParams<P>(params), context(ctx)).map(witDiagnostic));
    },
  };
}

/** `fn(obj, params)` assesses one live object. */
export function health<P = Record<string, unknown>>(fn: (obj: KubeObject, params: P) => Status) {
  return {
    assess(item: string, params: string) {
      return call(() => {
        const status = fn(parseObjects([item])[0], parseParams<P>(params));
        if (!["healthy", "progressing", "degraded", "missing", "unknown"].includes(status.health)) {
          throw new Failed(`health ${JSON.stringify(status.health)}: use healthy, progressing, degraded, missing or unknown`);
        }
        return { health: status.health, message: status.message };
      });
    },
  };
}
