#!/usr/bin/env python3
"""Records what `helm template` (v3.17) prints for each snippet of
tests/snippets/cases.txt and errors.txt, into tests/snippets/expected.json.

Each snippet becomes templates/<name>.yaml of a chart `snippets`, wrapped as
`out: {{ include "<name>" . | toJson }}` so any output is valid YAML; error
snippets are rendered one chart each and their error line is kept. Every
render gets the `--set` overrides of tests/snippets/set.txt.
Run: python3 tools/gen_snippets.py [path/to/helm]
"""
import json, os, shutil, subprocess, sys, tempfile

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "snippets")
HELM = sys.argv[1] if len(sys.argv) > 1 else "helm"


def cases(name):
    out, cur = [], None
    for line in open(os.path.join(HERE, name)).read().split("\n"):
        if line.startswith("=== "):
            cur = [line[4:].strip(), []]
            out.append(cur)
        elif cur is not None:
            cur[1].append(line)
    return [(n, "\n".join(body).rstrip("\n")) for n, body in out]


def set_flags():
    flags = []
    for line in open(os.path.join(HERE, "set.txt")).read().split("\n"):
        if line.strip():
            flags += ["--set", line.strip()]
    return flags


def chart(tmp, snippets):
    root = os.path.join(tmp, "snippets")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "templates"))
    os.makedirs(os.path.join(root, "files"))
    open(os.path.join(root, "Chart.yaml"), "w").write("apiVersion: v2\nname: snippets\nversion: 0.1.0\nappVersion: \"2.0\"\n")
    shutil.copy(os.path.join(HERE, "values.yaml"), root)
    for f, text in (("a.txt", "first\nsecond\n"), ("b.bin", "bee")):
        open(os.path.join(root, "files", f), "w").write(text)
    for name, body in snippets:
        open(os.path.join(root, "templates", name + ".yaml"), "w").write(wrap(name, body))
    return root


def wrap(name, body):
    # A line `%%` separates top-level definitions from the snippet itself.
    prelude, _, body = body.rpartition("\n%%\n")
    return prelude + '{{- define "%s" }}%s{{ end }}\nkind: Snip\nname: %s\nout: {{ include "%s" . | toJson }}\n' % (name, body, name, name)


def main():
    expected = {"ok": {}, "errors": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = chart(tmp, cases("cases.txt"))
        out = subprocess.run([HELM, "template", "snip", root, "--namespace", "ns"] + set_flags(), capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(out.stderr)
        name = None
        for line in out.stdout.split("\n"):
            if line.startswith("name: "):
                name = line[6:]
            elif line.startswith("out: "):
                expected["ok"][name] = json.loads(line[5:])
        for name, body in cases("errors.txt"):
            root = chart(tmp, [])
            open(os.path.join(root, "templates", name + ".yaml"), "w").write(body + "\n")
            out = subprocess.run([HELM, "template", "snip", root] + set_flags(), capture_output=True, text=True)
            expected["errors"][name] = out.stderr.split("\n")[0] if out.returncode else None
    json.dump(expected, open(os.path.join(HERE, "expected.json"), "w"), indent=1, sort_keys=True)


main()
