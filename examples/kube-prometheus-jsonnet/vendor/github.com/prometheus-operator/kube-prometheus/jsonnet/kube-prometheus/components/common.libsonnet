// Helpers every component shares: standard labels, RBAC and a ServiceMonitor.
{
  labels(name, component, version):: {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/version': version,
    'app.kubernetes.io/part-of': 'kube-prometheus',
  },

  selector(labels):: { [k]: labels[k] for k in ['app.kubernetes.io/name', 'app.kubernetes.io/component', 'app.kubernetes.io/part-of'] },

  serviceAccount(name, namespace, labels):: {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: name, namespace: namespace, labels: labels },
    automountServiceAccountToken: true,
  },

  clusterRole(name, labels, rules):: {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name: name, labels: labels },
    rules: rules,
  },

  clusterRoleBinding(name, namespace, labels):: {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: name, labels: labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: name },
    subjects: [{ kind: 'ServiceAccount', name: name, namespace: namespace }],
  },

  service(name, namespace, labels, port):: {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: name, namespace: namespace, labels: labels },
    spec: {
      ports: [{ name: 'https', port: port, targetPort: 'https' }],
      selector: $.selector(labels),
    },
  },

  serviceMonitor(name, namespace, labels, interval='30s'):: {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: name, namespace: namespace, labels: labels },
    spec: {
      endpoints: [{ port: 'https', interval: interval, scheme: 'https', tlsConfig: { insecureSkipVerify: true } }],
      selector: { matchLabels: $.selector(labels) },
    },
  },
}
