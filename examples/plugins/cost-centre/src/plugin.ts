// cost-centre: a Capstan transformer in TypeScript. It puts the label
// `cost-centre: <with.costCentre>` on every object, and on the pod template
// of workloads, so that the pods they create are billed too. An object that
// already names another cost centre keeps it unless `with: {override: true}`,
// and a warning says so.

import {
  type Context,
  type Diagnostic,
  type KubeObject,
  InvalidConfig,
  field,
  labels,
  log,
  transformer,
  warning,
} from "./capstan";

interface Params {
  costCentre?: string;
  label?: string;
  override?: boolean;
}

// A label value as Kubernetes accepts it.
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
// The kinds whose pod template is `spec.template` (CronJob: `spec.jobTemplate.spec.template`).
const WORKLOADS = ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"];

function settings(params: Params): { value: string; label: string; override: boolean } {
  const unknown = Object.keys(params).filter((key) => !["costCentre", "label", "override"].includes(key));
  if (unknown.length > 0) {
    throw new InvalidConfig(`unknown parameter ${JSON.stringify(unknown[0])}: this plugin takes costCentre, label and override`);
  }
  const value = params.costCentre;
  if (typeof value !== "string" || !LABEL_VALUE.test(value)) {
    throw new InvalidConfig(
      `costCentre ${JSON.stringify(value)}: set a label value (letters, digits, '-', '_', '.'; at most 63), e.g. {costCentre: cc-1234}`,
    );
  }
  return { value, label: params.label ?? "cost-centre", override: params.override ?? false };
}

function podTemplate(obj: KubeObject): KubeObject | undefined {
  const spec = obj.spec as Record<string, any> | undefined;
  if (WORKLOADS.includes(obj.kind ?? "")) return spec?.template;
  if (obj.kind === "CronJob") return spec?.jobTemplate?.spec?.template;
  return undefined;
}

export function addCostCentre(objects: KubeObject[], params: Params, ctx: Context) {
  const { value, label, override } = settings(params);
  const diagnostics: Diagnostic[] = [];
  for (const obj of objects) {
    const own = labels(obj);
    if (label in own && own[label] !== value && !override) {
      diagnostics.push(
        warning(
          `keeps ${label}=${own[label]} (not ${value}); set override: true to replace it`,
          obj,
          field("metadata", "labels", [label]),
        ),
      );
      continue;
    }
    own[label] = value;
    const template = podTemplate(obj);
    if (template !== undefined) labels(template)[label] = value;
  }
  log("info", `${ctx.app}: ${label}=${value} on ${objects.length - diagnostics.length} of ${objects.length} objects`);
  return { objects, diagnostics };
}

// jco exports the object named after the world's interface.
export const transform = transformer<Params>(addCostCentre);
