// kube-lite: a small library of Kubernetes object constructors, vendored
// here the way jsonnet-bundler vendors one (vendor/<host>/<org>/<repo>,
// plus the legacy link vendor/kube-lite).
{
  _Object(apiVersion, kind, name):: {
    apiVersion: apiVersion,
    kind: kind,
    metadata: { name: name },
  },

  ConfigMap(name):: $._Object('v1', 'ConfigMap', name) { data: {} },

  Container(name, image):: {
    name: name,
    image: image,
    ports: [],
  },

  ContainerPort(name, port):: { name: name, containerPort: port, protocol: 'TCP' },

  Deployment(name, labels, containers, replicas=1):: $._Object('apps/v1', 'Deployment', name) {
    metadata+: { labels: labels },
    spec: {
      replicas: replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels: labels },
        spec: { containers: containers },
      },
    },
  },

  // A Service selecting `labels`, with one port per container port.
  Service(name, labels, ports):: $._Object('v1', 'Service', name) {
    metadata+: { labels: labels },
    spec: {
      selector: labels,
      ports: [{ name: p.name, port: p.containerPort, targetPort: p.name } for p in ports],
    },
  },
}
