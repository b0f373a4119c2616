# Every image comes from one of `data.allowedRegistries` (prefixes ending in "/").
package allowedregistries

import rego.v1

workloads := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

pod_spec := input.spec if input.kind == "Pod"

pod_spec := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

pod_spec := input.spec.template.spec if input.kind in workloads

containers contains c if some c in pod_spec.containers

containers contains c if some c in pod_spec.initContainers

containers contains c if some c in pod_spec.ephemeralContainers

deny contains msg if {
	some c in containers
	not allowed(c.image)
	msg := sprintf("image %s of container %s is not from an allowed registry", [c.image, c.name])
}

allowed(image) if {
	some prefix in data.allowedRegistries
	startswith(image, prefix)
}
