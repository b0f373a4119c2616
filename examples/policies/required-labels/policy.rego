# Every object carries the labels of `data.requiredLabels` (the stage's `with.data`).
package requiredlabels

import rego.v1

deny contains msg if {
	some label in data.requiredLabels
	not input.metadata.labels[label]
	msg := sprintf("%s/%s is missing the required label %s", [input.kind, input.metadata.name, label])
}
