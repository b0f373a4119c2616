local common = import 'common.libsonnet';

function(params) {
  local name = 'node-exporter',
  local labels = common.labels(name, 'exporter', params.version),

  serviceAccount: common.serviceAccount(name, params.namespace, labels),
  clusterRole: common.clusterRole(name, labels, [
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ]),
  clusterRoleBinding: common.clusterRoleBinding(name, params.namespace, labels),
  daemonset: {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: name, namespace: params.namespace, labels: labels },
    spec: {
      selector: { matchLabels: common.selector(labels) },
      template: {
        metadata: { labels: labels },
        spec: {
          serviceAccountName: name,
          hostPID: true,
          hostNetwork: true,
          containers: [{
            name: name,
            image: params.image,
            args: ['--web.listen-address=127.0.0.1:9101', '--path.sysfs=/host/sys', '--path.rootfs=/host/root'],
            ports: [{ name: 'https', containerPort: 9100, hostPort: 9100 }],
            volumeMounts: [
              { name: 'sys', mountPath: '/host/sys', readOnly: true },
              { name: 'root', mountPath: '/host/root', readOnly: true, mountPropagation: 'HostToContainer' },
            ],
          }],
          volumes: [
            { name: 'sys', hostPath: { path: '/sys' } },
            { name: 'root', hostPath: { path: '/' } },
          ],
          tolerations: [{ operator: 'Exists' }],
        },
      },
    },
  },
  service: common.service(name, params.namespace, labels, 9100) { spec+: { clusterIP: 'None' } },
  serviceMonitor: common.serviceMonitor(name, params.namespace, labels, '15s'),
}
