//! The transformer configuration: which fields each built-in transformer
//! touches (kustomize's defaults, extended by `configurations:`).

use serde::Deserialize;

use crate::fieldspec::{FieldSpec, merge_specs};
use crate::resource::Gvk;

/// Where a referent kind's name is used by other kinds.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NameRef {
    /// Referent group.
    pub group: String,
    /// Referent version.
    pub version: String,
    /// Referent kind.
    pub kind: String,
    /// Referrer fields.
    #[serde(rename = "fieldSpecs")]
    pub field_specs: Vec<FieldSpec>,
}

impl NameRef {
    /// The referent selector.
    pub fn gvk(&self) -> Gvk {
        Gvk { group: self.group.clone(), version: self.version.clone(), kind: self.kind.clone() }
    }
}

/// Field specs of every built-in transformer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    /// `namePrefix`.
    pub name_prefix: Vec<FieldSpec>,
    /// `nameSuffix`.
    pub name_suffix: Vec<FieldSpec>,
    /// `namespace`.
    pub namespace: Vec<FieldSpec>,
    /// `commonLabels` (metadata, selectors, templates).
    pub common_labels: Vec<FieldSpec>,
    /// Template labels only (`labels[].includeTemplates`).
    pub template_labels: Vec<FieldSpec>,
    /// Extra specs for `labels:` entries.
    pub labels: Vec<FieldSpec>,
    /// `commonAnnotations`.
    pub common_annotations: Vec<FieldSpec>,
    /// `images`.
    pub images: Vec<FieldSpec>,
    /// `replicas`.
    pub replicas: Vec<FieldSpec>,
    /// `vars` references.
    pub var_reference: Vec<FieldSpec>,
    /// Name references between kinds.
    pub name_reference: Vec<NameRef>,
}

const POD_PARENTS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("PodTemplate", "template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicaSet", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
];
const POD_OWNERS: &[(&str, &str)] = &[
    ("Pod", "spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
];

fn fs(kind: &str, group: &str, path: &str, create: bool) -> FieldSpec {
    FieldSpec { kind: kind.into(), group: group.into(), path: path.into(), create, ..Default::default() }
}

fn pod_refs(parents: &[(&str, &str)], suffixes: &[&str]) -> Vec<FieldSpec> {
    let mut out = Vec::new();
    for (kind, prefix) in parents {
        for s in suffixes {
            out.push(fs(kind, "", &format!("{prefix}/{s}"), false));
        }
    }
    out
}

fn nameref(kind: &str, group: &str, version: &str, specs: Vec<FieldSpec>) -> NameRef {
    NameRef { kind: kind.into(), group: group.into(), version: version.into(), field_specs: specs }
}

fn default_name_refs() -> Vec<NameRef> {
    let hpa = |k: &str| nameref(k, "", "", vec![fs("HorizontalPodAutoscaler", "", "spec/scaleTargetRef/name", false)]);
    let mut cm = pod_refs(
        POD_PARENTS,
        &[
            "volumes/configMap/name",
            "containers/env/valueFrom/configMapKeyRef/name",
            "initContainers/env/valueFrom/configMapKeyRef/name",
            "containers/envFrom/configMapRef/name",
            "initContainers/envFrom/configMapRef/name",
            "volumes/projected/sources/configMap/name",
        ],
    );
    cm.extend([
        fs("Node", "", "spec/configSource/configMap", false),
        fs("Role", "", "rules/resourceNames", false),
        fs("ClusterRole", "", "rules/resourceNames", false),
        fs("Ingress", "", "metadata/annotations/nginx.ingress.kubernetes.io\\/fastcgi-params-configmap", false),
    ]);
    let mut secret = pod_refs(
        POD_PARENTS,
        &[
            "volumes/secret/secretName",
            "containers/env/valueFrom/secretKeyRef/name",
            "initContainers/env/valueFrom/secretKeyRef/name",
            "containers/envFrom/secretRef/name",
            "initContainers/envFrom/secretRef/name",
            "imagePullSecrets/name",
            "volumes/projected/sources/secret/name",
        ],
    );
    secret.extend([
        fs("Ingress", "", "spec/tls/secretName", false),
        fs("Ingress", "", "metadata/annotations/ingress.kubernetes.io\\/auth-secret", false),
        fs("Ingress", "", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-secret", false),
        fs("Ingress", "", "metadata/annotations/nginx.ingress.kubernetes.io\\/auth-tls-secret", false),
        fs("ServiceAccount", "", "imagePullSecrets/name", false),
        fs("StorageClass", "", "parameters/secretName", false),
        fs("StorageClass", "", "parameters/adminSecretName", false),
        fs("StorageClass", "", "parameters/userSecretName", false),
        fs("StorageClass", "", "parameters/secretRef", false),
        fs("Role", "", "rules/resourceNames", false),
        fs("ClusterRole", "", "rules/resourceNames", false),
        fs("Service", "serving.knative.dev", "spec/template/spec/containers/env/valueFrom/secretKeyRef/name", false),
        fs("PersistentVolume", "", "spec/azureFile/secretName", false),
    ]);
    let mut sa = vec![
        fs("RoleBinding", "rbac.authorization.k8s.io", "subjects", false),
        fs("ClusterRoleBinding", "rbac.authorization.k8s.io", "subjects", false),
    ];
    sa.extend(pod_refs(POD_OWNERS, &["serviceAccountName"]));
    let mut sc = vec![
        fs("PersistentVolume", "", "spec/storageClassName", false),
        fs("PersistentVolumeClaim", "", "spec/storageClassName", false),
        fs("StatefulSet", "", "spec/volumeClaimTemplates/spec/storageClassName", false),
    ];
    sc.shrink_to_fit();
    vec![
        hpa("Deployment"),
        hpa("ReplicationController"),
        hpa("ReplicaSet"),
        hpa("StatefulSet"),
        nameref("ConfigMap", "", "v1", cm),
        nameref("Secret", "", "v1", secret),
        nameref(
            "Service",
            "",
            "v1",
            vec![
                fs("StatefulSet", "apps", "spec/serviceName", false),
                fs("Ingress", "", "spec/rules/http/paths/backend/serviceName", false),
                fs("Ingress", "", "spec/backend/serviceName", false),
                fs("Ingress", "", "spec/rules/http/paths/backend/service/name", false),
                fs("Ingress", "", "spec/defaultBackend/service/name", false),
                fs("APIService", "apiregistration.k8s.io", "spec/service/name", false),
                fs(
                    "ValidatingWebhookConfiguration",
                    "admissionregistration.k8s.io",
                    "webhooks/clientConfig/service",
                    false,
                ),
                fs(
                    "MutatingWebhookConfiguration",
                    "admissionregistration.k8s.io",
                    "webhooks/clientConfig/service",
                    false,
                ),
                fs("HTTPRoute", "", "spec/rules/backendRefs/name", false),
            ],
        ),
        nameref(
            "Role",
            "rbac.authorization.k8s.io",
            "",
            vec![fs("RoleBinding", "rbac.authorization.k8s.io", "roleRef/name", false)],
        ),
        nameref(
            "ClusterRole",
            "rbac.authorization.k8s.io",
            "",
            vec![
                fs("RoleBinding", "rbac.authorization.k8s.io", "roleRef/name", false),
                fs("ClusterRoleBinding", "rbac.authorization.k8s.io", "roleRef/name", false),
            ],
        ),
        nameref("ServiceAccount", "", "v1", sa),
        nameref("PersistentVolumeClaim", "", "v1", pod_refs(POD_OWNERS, &["volumes/persistentVolumeClaim/claimName"])),
        nameref(
            "PersistentVolume",
            "",
            "v1",
            vec![
                fs("PersistentVolumeClaim", "", "spec/volumeName", false),
                fs("ClusterRole", "", "rules/resourceNames", false),
            ],
        ),
        nameref("StorageClass", "storage.k8s.io", "v1", sc),
        nameref("PriorityClass", "scheduling.k8s.io", "v1", pod_refs(POD_OWNERS, &["priorityClassName"])),
        nameref(
            "ValidatingAdmissionPolicy",
            "admissionregistration.k8s.io",
            "",
            vec![fs("ValidatingAdmissionPolicyBinding", "admissionregistration.k8s.io", "spec/policyName", false)],
        ),
        nameref("IngressClass", "networking.k8s.io", "v1", vec![fs("Ingress", "", "spec/ingressClassName", false)]),
    ]
}

const WORKLOAD_TEMPLATES: &[(&str, &str, &str)] = &[
    ("ReplicationController", "", "spec/template/metadata"),
    ("Deployment", "", "spec/template/metadata"),
    ("ReplicaSet", "", "spec/template/metadata"),
    ("DaemonSet", "", "spec/template/metadata"),
    ("StatefulSet", "apps", "spec/template/metadata"),
    ("Job", "batch", "spec/template/metadata"),
    ("CronJob", "batch", "spec/jobTemplate/metadata"),
    ("CronJob", "batch", "spec/jobTemplate/spec/template/metadata"),
];

fn template_labels() -> Vec<FieldSpec> {
    let mut v: Vec<FieldSpec> =
        WORKLOAD_TEMPLATES.iter().map(|(k, g, p)| fs(k, g, &format!("{p}/labels"), true)).collect();
    v.insert(6, fs("StatefulSet", "apps", "spec/volumeClaimTemplates[]/metadata/labels", true));
    v
}

fn common_labels() -> Vec<FieldSpec> {
    let mut v = vec![
        fs("Service", "", "spec/selector", true),
        fs("ReplicationController", "", "spec/selector", true),
        fs("Deployment", "", "spec/selector/matchLabels", true),
    ];
    let affinity = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    v.extend(affinity.iter().map(|p| fs("Deployment", "apps", p, false)));
    v.push(fs("ReplicaSet", "", "spec/selector/matchLabels", true));
    v.push(fs("DaemonSet", "", "spec/selector/matchLabels", true));
    v.push(fs("StatefulSet", "apps", "spec/selector/matchLabels", true));
    v.push(fs("StatefulSet", "apps", "spec/volumeClaimTemplates[]/metadata/labels", true));
    v.extend(affinity.iter().map(|p| fs("StatefulSet", "apps", p, false)));
    v.push(fs("Job", "batch", "spec/selector/matchLabels", false));
    v.push(fs("CronJob", "batch", "spec/jobTemplate/spec/selector/matchLabels", false));
    v.push(fs("PodDisruptionBudget", "policy", "spec/selector/matchLabels", false));
    v.push(fs("NetworkPolicy", "networking.k8s.io", "spec/podSelector/matchLabels", false));
    v.push(fs("NetworkPolicy", "networking.k8s.io", "spec/ingress/from/podSelector/matchLabels", false));
    v.push(fs("NetworkPolicy", "networking.k8s.io", "spec/egress/to/podSelector/matchLabels", false));
    v.push(FieldSpec::any("metadata/labels", true));
    merge_specs(&mut v, &template_labels());
    v
}

fn common_annotations() -> Vec<FieldSpec> {
    let mut v = vec![FieldSpec::any("metadata/annotations", true)];
    v.extend(WORKLOAD_TEMPLATES.iter().map(|(k, g, p)| fs(k, g, &format!("{p}/annotations"), true)));
    v
}

fn var_reference() -> Vec<FieldSpec> {
    let mut v = Vec::new();
    for (kind, prefix) in [
        ("CronJob", "spec/jobTemplate/spec/template/spec"),
        ("DaemonSet", "spec/template/spec"),
        ("Deployment", "spec/template/spec"),
        ("Job", "spec/template/spec"),
        ("Pod", "spec"),
        ("ReplicaSet", "spec/template/spec"),
        ("StatefulSet", "spec/template/spec"),
    ] {
        for c in ["containers", "initContainers"] {
            for f in ["args", "command", "env/value", "volumeMounts/mountPath"] {
                v.push(fs(kind, "", &format!("{prefix}/{c}/{f}"), false));
            }
        }
    }
    for p in ["spec/rules/host", "spec/tls/hosts", "spec/tls/secretName"] {
        v.push(fs("Ingress", "", p, false));
    }
    v.push(fs("Service", "", "spec/ports/port", false));
    v.push(fs("Service", "", "spec/ports/targetPort", false));
    v.push(FieldSpec::any("metadata/labels", false));
    v.push(FieldSpec::any("metadata/annotations", false));
    // NFS servers and the Deployment pod template's annotations.
    for (kind, path) in [
        ("CronJob", "spec/jobTemplate/spec/template/volumes/nfs/server"),
        ("DaemonSet", "spec/template/spec/volumes/nfs/server"),
        ("Deployment", "spec/template/spec/volumes/nfs/server"),
        ("Deployment", "spec/template/metadata/annotations"),
        ("Job", "spec/template/spec/volumes/nfs/server"),
        ("Pod", "spec/volumes/nfs/server"),
        ("ReplicaSet", "spec/template/spec/volumes/nfs/server"),
        ("StatefulSet", "spec/volumeClaimTemplates/spec/nfs/server"),
        ("PersistentVolume", "spec/nfs/server"),
    ] {
        v.push(fs(kind, "", path, false));
    }
    v
}

impl Config {
    /// kustomize's built-in configuration.
    pub fn defaults() -> Config {
        let images = [
            "spec/containers[]/image",
            "spec/initContainers[]/image",
            "spec/template/spec/containers[]/image",
            "spec/template/spec/initContainers[]/image",
        ];
        Config {
            name_prefix: vec![FieldSpec::any("metadata/name", false)],
            name_suffix: vec![FieldSpec::any("metadata/name", false)],
            namespace: crate::namespace::default_specs(),
            common_labels: common_labels(),
            template_labels: template_labels(),
            labels: Vec::new(),
            common_annotations: common_annotations(),
            images: images.iter().map(|p| FieldSpec::any(p, true)).collect(),
            replicas: ["Deployment", "ReplicationController", "ReplicaSet", "StatefulSet"]
                .iter()
                .map(|k| fs(k, "", "spec/replicas", true))
                .collect(),
            var_reference: var_reference(),
            name_reference: default_name_refs(),
        }
    }

    /// Adds another configuration's specs (kustomize's `MergeConfig`).
    pub fn merge(&mut self, o: &Config) {
        merge_specs(&mut self.name_prefix, &o.name_prefix);
        merge_specs(&mut self.name_suffix, &o.name_suffix);
        merge_specs(&mut self.namespace, &o.namespace);
        merge_specs(&mut self.common_labels, &o.common_labels);
        merge_specs(&mut self.template_labels, &o.template_labels);
        merge_specs(&mut self.labels, &o.labels);
        merge_specs(&mut self.common_annotations, &o.common_annotations);
        merge_specs(&mut self.images, &o.images);
        merge_specs(&mut self.replicas, &o.replicas);
        merge_specs(&mut self.var_reference, &o.var_reference);
        for n in &o.name_reference {
            match self.name_reference.iter_mut().find(|x| x.gvk() == n.gvk()) {
                Some(x) => merge_specs(&mut x.field_specs, &n.field_specs),
                None => self.name_reference.push(n.clone()),
            }
        }
    }
}
