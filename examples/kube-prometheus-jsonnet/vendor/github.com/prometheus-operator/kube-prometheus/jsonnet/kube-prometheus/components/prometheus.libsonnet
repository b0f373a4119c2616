local common = import 'common.libsonnet';

function(params) {
  local name = 'prometheus-' + params.name,
  local labels = common.labels('prometheus', 'prometheus', params.version) { 'app.kubernetes.io/instance': params.name },

  serviceAccount: common.serviceAccount(name, params.namespace, labels),
  clusterRole: common.clusterRole(name, labels, [
    { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
    { nonResourceURLs: ['/metrics'], verbs: ['get'] },
  ]),
  clusterRoleBinding: common.clusterRoleBinding(name, params.namespace, labels),
  prometheus: {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'Prometheus',
    metadata: { name: params.name, namespace: params.namespace, labels: labels },
    spec: {
      replicas: params.replicas,
      retention: params.retention,
      image: params.image,
      version: params.version,
      serviceAccountName: name,
      serviceMonitorSelector: {},
      serviceMonitorNamespaceSelector: {},
      resources: { requests: { memory: '400Mi' } },
    },
  },
  service: common.service(name, params.namespace, labels, 9090) {
    spec+: { ports: [{ name: 'web', port: 9090, targetPort: 'web' }] },
  },
  serviceMonitor: common.serviceMonitor(name, params.namespace, labels) {
    spec+: { endpoints: [{ port: 'web', interval: '30s' }] },
  },
}
