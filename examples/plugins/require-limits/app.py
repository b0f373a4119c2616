"""require-limits: a Capstan validator in Python. Every container of every
workload (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
CronJob) must set `resources.limits` for the resources of
`with: {resources: […]}` (by default cpu and memory); init containers too.

    Validate = capstan_plugin.validator(check)

is what componentize-py exports; `check` is plain Python, tested natively
by test_app.py."""

import capstan_plugin as capstan

# Where each workload kind keeps its pod spec.
POD_SPEC = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def params_of(params):
    unknown = sorted(set(params) - {"resources"})
    if unknown:
        raise capstan.InvalidConfig(f"unknown parameter {unknown[0]!r}: this plugin takes resources")
    resources = params.get("resources", ["cpu", "memory"])
    if not isinstance(resources, list) or not resources or not all(isinstance(r, str) for r in resources):
        raise capstan.InvalidConfig("`resources` must be a non-empty list of resource names, e.g. [cpu, memory]")
    return resources


def check(objects, params, ctx):
    required = params_of(params)
    findings = []
    for obj in objects:
        path = POD_SPEC.get(obj.get("kind"))
        if path is None or not str(obj.get("apiVersion", "")).startswith(("v1", "apps/", "batch/")):
            continue
        spec = obj
        for step in path:
            spec = spec.get(step) if isinstance(spec, dict) else None
        if not isinstance(spec, dict):
            continue
        for group in ("initContainers", "containers"):
            for index, container in enumerate(spec.get(group) or []):
                at = (*path, group, index, "resources", "limits")
                limits = (container.get("resources") or {}).get("limits") or {}
                name = container.get("name", f"#{index}")
                if not limits:
                    findings.append(capstan.error(
                        f"container {name} sets no resources.limits (needs {', '.join(required)})",
                        about=obj, at=capstan.field(*at)))
                    continue
                for resource in required:
                    if resource not in limits:
                        findings.append(capstan.error(
                            f"container {name} sets no {resource} limit",
                            about=obj, at=capstan.field(*at, resource)))
    capstan.log("info", f"checked {len(objects)} objects of {ctx.app}: {len(findings)} findings")
    return findings


Validate = capstan.validator(check)
