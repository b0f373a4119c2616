// The operator's CustomResourceDefinitions (kube-prometheus generates these
// from the operator's own; here with open schemas).
local crd(plural, kind, listKind, shortNames) = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: {
    name: plural + '.monitoring.coreos.com',
    annotations: { 'operator.prometheus.io/version': '0.79.2' },
  },
  spec: {
    group: 'monitoring.coreos.com',
    scope: 'Namespaced',
    names: { plural: plural, singular: std.asciiLower(kind), kind: kind, listKind: listKind, shortNames: shortNames, categories: ['prometheus-operator'] },
    versions: [{
      name: 'v1',
      served: true,
      storage: true,
      schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    }],
  },
};

{
  'prometheusCustomResourceDefinition': crd('prometheuses', 'Prometheus', 'PrometheusList', ['prom']),
  'servicemonitorCustomResourceDefinition': crd('servicemonitors', 'ServiceMonitor', 'ServiceMonitorList', ['smon']),
}
