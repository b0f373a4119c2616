"""{{name}}: a Capstan validator. Every object must carry the labels of
`with: {requiredLabels: […]}` (by default app.kubernetes.io/name).
Replace `check` with your own policy."""

import capstan_plugin as capstan


def check(objects, params, ctx):
    """One diagnostic per finding: plain Python, so unit tests run it natively."""
    unknown = sorted(set(params) - {"requiredLabels"})
    if unknown:
        raise capstan.InvalidConfig(f"unknown parameter {unknown[0]!r}: this plugin takes requiredLabels")
    required = params.get("requiredLabels", ["app.kubernetes.io/name"])
    findings = []
    for obj in objects:
        present = obj.get("metadata", {}).get("labels", {})
        for label in required:
            if label not in present:
                at = capstan.field("metadata", "labels", [label])
                findings.append(capstan.error(f"missing label {label}", about=obj, at=at))
    capstan.log("info", f"checked {len(objects)} objects of {ctx.app}: {len(findings)} findings")
    return findings


# componentize-py exports the class named after the world's interface.
Validate = capstan.validator(check)
