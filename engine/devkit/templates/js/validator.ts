// {{name}}: a Capstan validator. Every object must carry the labels of
// `with: {requiredLabels: […]}` (by default app.kubernetes.io/name).
// Replace `check` with your own policy.

import { type Context, type Diagnostic, type KubeObject, InvalidConfig, error, field, log, validator } from "./capstan";

interface Params {
  requiredLabels?: string[];
}

/** One diagnostic per finding. */
export function check(objects: KubeObject[], params: Params, ctx: Context): Diagnostic[] {
  const unknown = Object.keys(params).filter((key) => key !== "requiredLabels");
  if (unknown.length > 0) throw new InvalidConfig(`unknown parameter ${JSON.stringify(unknown[0])}: this plugin takes requiredLabels`);
  const required = params.requiredLabels ?? ["app.kubernetes.io/name"];
  const findings: Diagnostic[] = [];
  for (const obj of objects) {
    const present = obj.metadata?.labels ?? {};
    for (const label of required.filter((l) => !(l in present))) {
      findings.push(error(`missing label ${label}`, obj, field("metadata", "labels", [label])));
    }
  }
  log("info", `checked ${objects.length} objects of ${ctx.app}: ${findings.length} findings`);
  return findings;
}

// jco exports the object named after the world's interface.
export const validate = validator<Params>(check);
