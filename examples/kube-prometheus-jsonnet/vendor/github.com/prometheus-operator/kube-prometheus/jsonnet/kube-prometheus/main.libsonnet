// A small stand-in for kube-prometheus's main.libsonnet, with its shape:
// `values` configure components, each component a map of objects.
local crds = import './crds/crds.libsonnet';
local nodeExporter = import './components/node-exporter.libsonnet';
local prometheusOperator = import './components/prometheus-operator.libsonnet';
local prometheus = import './components/prometheus.libsonnet';

{
  values:: {
    common: {
      namespace: 'default',
      versions: { prometheusOperator: '0.79.2', nodeExporter: '1.8.2', prometheus: '3.1.0' },
      images: {
        prometheusOperator: 'quay.io/prometheus-operator/prometheus-operator:v' + $.values.common.versions.prometheusOperator,
        nodeExporter: 'quay.io/prometheus/node-exporter:v' + $.values.common.versions.nodeExporter,
        prometheus: 'quay.io/prometheus/prometheus:v' + $.values.common.versions.prometheus,
      },
    },
    prometheusOperator: {
      namespace: $.values.common.namespace,
      version: $.values.common.versions.prometheusOperator,
      image: $.values.common.images.prometheusOperator,
    },
    nodeExporter: {
      namespace: $.values.common.namespace,
      version: $.values.common.versions.nodeExporter,
      image: $.values.common.images.nodeExporter,
    },
    prometheus: {
      namespace: $.values.common.namespace,
      version: $.values.common.versions.prometheus,
      image: $.values.common.images.prometheus,
      name: 'k8s',
      replicas: 1,
      retention: '24h',
    },
  },

  crds: crds,
  prometheusOperator: prometheusOperator($.values.prometheusOperator),
  nodeExporter: nodeExporter($.values.nodeExporter),
  prometheus: prometheus($.values.prometheus),
  kubePrometheus: {
    namespace: {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: $.values.common.namespace },
    },
  },
}
