// {{name}}: a Capstan transformer. It sets the labels of `with: {labels: …}`
// on every object. Replace `change` with your own.

import { type Context, type KubeObject, InvalidConfig, labels, log, transformer } from "./capstan";

interface Params {
  labels?: Record<string, string>;
}

/** The changed objects. */
export function change(objects: KubeObject[], params: Params, ctx: Context): KubeObject[] {
  const unknown = Object.keys(params).filter((key) => key !== "labels");
  if (unknown.length > 0) throw new InvalidConfig(`unknown parameter ${JSON.stringify(unknown[0])}: this plugin takes labels`);
  log("info", `labelling ${objects.length} objects of ${ctx.app}`);
  for (const obj of objects) Object.assign(labels(obj), params.labels ?? {});
  return objects;
}

// jco exports the object named after the world's interface.
export const transform = transformer<Params>(change);
