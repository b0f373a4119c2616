"""{{name}}: a Capstan health check for a custom kind. `status.phase` equal
to `with: {readyPhase: …}` (default Ready) is healthy, Failed is degraded,
anything else is progressing. Replace `assess` with your kind's rules."""

import capstan_plugin as capstan


def assess(obj, params):
    """The verdict on one live object: plain Python, so unit tests run it natively."""
    unknown = sorted(set(params) - {"readyPhase"})
    if unknown:
        raise capstan.InvalidConfig(f"unknown parameter {unknown[0]!r}: this plugin takes readyPhase")
    ready = params.get("readyPhase", "Ready")
    phase = obj.get("status", {}).get("phase")
    if phase == ready:
        return capstan.Status("healthy", f"phase {phase}")
    if phase == "Failed":
        return capstan.Status("degraded", "phase Failed")
    if phase is None:
        return capstan.Status("progressing", "no status.phase yet")
    return capstan.Status("progressing", f"phase {phase}, waiting for {ready}")


# componentize-py exports the class named after the world's interface.
Assess = capstan.health(assess)
