// The project's own library (found through lib/, as Tanka and jsonnet-bundler
// projects lay it out): one web application from kube-lite's constructors.
local kube = import 'kube-lite/kube.libsonnet';

{
  new(name, image, replicas, env):: {
    local labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'webapp-jsonnet', env: env },
    local http = kube.ContainerPort('http', 9898),

    config: kube.ConfigMap(name + '-config') {
      metadata+: { labels: labels },
      data: {
        PODINFO_UI_MESSAGE: importstr '../config/banner.txt',
        ENV: env,
      },
    },

    deployment: kube.Deployment(name, labels, replicas=replicas, containers=[
      kube.Container('podinfo', image) {
        ports: [http],
        envFrom: [{ configMapRef: { name: name + '-config' } }],
        resources: { requests: { cpu: '10m', memory: '32Mi' } },
      },
    ]),

    service: kube.Service(name, labels, [http]),
  },
}
