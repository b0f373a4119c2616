// Composed as kube-prometheus's example.jsonnet: the library's components,
// configured through `values`, keyed by the file name each would get with
// `jsonnet -m`. builtin:jsonnet flattens the map (in key order) into objects.
local kp =
  (import 'kube-prometheus/main.libsonnet') +
  {
    values+:: {
      common+: { namespace: 'monitoring' },
      prometheus+: { replicas: 2, retention: '15d' },
    },
  };

{ 'setup/0namespace-namespace': kp.kubePrometheus.namespace } +
{ ['setup/0' + name]: kp.crds[name] for name in std.objectFields(kp.crds) } +
{
  ['prometheus-operator-' + name]: kp.prometheusOperator[name]
  for name in std.objectFields(kp.prometheusOperator)
} +
{ ['node-exporter-' + name]: kp.nodeExporter[name] for name in std.objectFields(kp.nodeExporter) } +
{ ['prometheus-' + name]: kp.prometheus[name] for name in std.objectFields(kp.prometheus) }
