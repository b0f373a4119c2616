local common = import 'common.libsonnet';

function(params) {
  local name = 'prometheus-operator',
  local labels = common.labels(name, 'controller', params.version),

  serviceAccount: common.serviceAccount(name, params.namespace, labels),
  clusterRole: common.clusterRole(name, labels, [
    { apiGroups: ['monitoring.coreos.com'], resources: ['prometheuses', 'prometheuses/status', 'servicemonitors'], verbs: ['*'] },
    { apiGroups: ['apps'], resources: ['statefulsets'], verbs: ['*'] },
    { apiGroups: [''], resources: ['configmaps', 'secrets'], verbs: ['*'] },
    { apiGroups: [''], resources: ['services', 'services/finalizers', 'endpoints'], verbs: ['get', 'create', 'update', 'delete'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete'] },
    { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'watch'] },
  ]),
  clusterRoleBinding: common.clusterRoleBinding(name, params.namespace, labels),
  deployment: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: name, namespace: params.namespace, labels: labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: common.selector(labels) },
      template: {
        metadata: { labels: labels },
        spec: {
          serviceAccountName: name,
          securityContext: { runAsNonRoot: true, runAsUser: 65534 },
          containers: [{
            name: name,
            image: params.image,
            args: ['--kubelet-service=kube-system/kubelet', '--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v' + params.version],
            ports: [{ name: 'https', containerPort: 8443 }],
            resources: { limits: { cpu: '200m', memory: '200Mi' }, requests: { cpu: '100m', memory: '100Mi' } },
          }],
        },
      },
    },
  },
  service: common.service(name, params.namespace, labels, 8443),
  serviceMonitor: common.serviceMonitor(name, params.namespace, labels),
}
