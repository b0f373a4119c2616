# No privileged container and no hostPath volume.
package noprivileged

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
	c.securityContext.privileged == true
	msg := sprintf("privileged container %s is not allowed", [c.name])
}

deny contains msg if {
	some v in pod_spec.volumes
	v.hostPath
	msg := sprintf("hostPath volume %s is not allowed", [v.name])
}
