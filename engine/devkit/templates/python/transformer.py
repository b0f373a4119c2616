"""{{name}}: a Capstan transformer. It sets the labels of
`with: {labels: …}` on every object. Replace `transform` with your own change."""

import capstan_plugin as capstan


def transform(objects, params, ctx):
    """The changed objects: plain Python, so unit tests run it natively."""
    unknown = sorted(set(params) - {"labels"})
    if unknown:
        raise capstan.InvalidConfig(f"unknown parameter {unknown[0]!r}: this plugin takes labels")
    capstan.log("info", f"labelling {len(objects)} objects of {ctx.app}")
    for obj in objects:
        capstan.labels(obj).update(params.get("labels", {}))
    return objects


# componentize-py exports the class named after the world's interface.
Transform = capstan.transformer(transform)
