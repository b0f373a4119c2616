#!/usr/bin/env python3
"""Prints the rows of `CLUSTER_SCOPED` in src/schema.rs: the apiVersions and
kinds kustomize v5.5 takes for cluster-scoped. Source: kyaml's built-in
OpenAPI, Kubernetes v1.21.2, as kustomize's repository bundles it
(kyaml/openapi/kubernetesapi/data/kubernetes-openapi-union-v1.21.2.bundle-v1.json.gz,
the same facts as kyaml's `precomputedIsNamespaceScoped`):
    python3 tools/gen_scopes.py kubernetes-openapi-union-v1.21.2.bundle-v1.json.gz
"""
import gzip
import json
import sys

bundle = json.load(gzip.open(sys.argv[1]))
for api, kind in sorted((r["apiVersion"], r["kind"]) for r in bundle["resources"] if r.get("scope") == "Cluster"):
    print(f'    ("{api}", "{kind}"),')
