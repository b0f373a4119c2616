"""{{name}}: a Capstan renderer. Every `.txt` file of the directory it
renders becomes a ConfigMap named after the file, with the prefix of
`with: {namePrefix: …}`. Replace `render_files` with your own format."""

import os

import capstan_plugin as capstan


def render_files(files, params):
    """The objects for (file name, text) pairs: plain Python, so unit tests run it natively."""
    prefix = params.get("namePrefix", "")
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": prefix + name[: -len(".txt")]},
            "data": {"text": text},
        }
        for name, text in files
    ]


def render(ctx, params):
    unknown = sorted(set(params) - {"namePrefix"})
    if unknown:
        raise capstan.InvalidConfig(f"unknown parameter {unknown[0]!r}: this plugin takes namePrefix")
    # The snapshot is preopened read-only at `/`; ctx.path is relative to it.
    directory = os.path.join("/", ctx.path)
    files = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".txt"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                files.append((name, f.read()))
    capstan.log("info", f"rendering {len(files)} files of {ctx.path}")
    return render_files(files, params)


# componentize-py exports the class named after the world's interface.
Render = capstan.renderer(render)
