// {{name}}: a Capstan health check for a custom kind. `status.phase` equal
// to `with: {readyPhase: …}` (default Ready) is healthy, Failed is degraded,
// anything else is progressing. Replace `check` with your kind's rules.

import { type KubeObject, type Status, InvalidConfig, health } from "./capstan";

interface Params {
  readyPhase?: string;
}

/** The verdict on one live object. */
export function check(obj: KubeObject, params: Params): Status {
  const unknown = Object.keys(params).filter((key) => key !== "readyPhase");
  if (unknown.length > 0) throw new InvalidConfig(`unknown parameter ${JSON.stringify(unknown[0])}: this plugin takes readyPhase`);
  const ready = params.readyPhase ?? "Ready";
  const phase = (obj.status as { phase?: string } | undefined)?.phase;
  if (phase === ready) return { health: "healthy", message: `phase ${phase}` };
  if (phase === "Failed") return { health: "degraded", message: "phase Failed" };
  if (phase === undefined) return { health: "progressing", message: "no status.phase yet" };
  return { health: "progressing", message: `phase ${phase}, waiting for ${ready}` };
}

// jco exports the object named after the world's interface.
export const assess = health<Params>(check);
