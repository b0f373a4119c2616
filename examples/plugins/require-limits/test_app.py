"""Unit tests of app.py, natively: `python3 -m unittest`."""

import unittest

import app
import capstan_plugin as capstan

CTX = capstan.Context("demo", None, ".", "0" * 40)


def deployment(*containers):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": list(containers)}}}}


class CheckTest(unittest.TestCase):
    def test_a_container_without_limits_is_an_error_on_its_field(self):
        [finding] = app.check([deployment({"name": "web"})], {}, CTX)
        self.assertEqual(finding.field, "spec.template.spec.containers[0].resources.limits")
        self.assertEqual(finding.message, "container web sets no resources.limits (needs cpu, memory)")

    def test_each_missing_resource_is_named(self):
        web = {"name": "web", "resources": {"limits": {"cpu": "1"}}}
        [finding] = app.check([deployment(web)], {}, CTX)
        self.assertEqual(finding.field, "spec.template.spec.containers[0].resources.limits.memory")
        self.assertEqual(app.check([deployment(web)], {"resources": ["cpu"]}, CTX), [])

    def test_other_kinds_are_not_checked(self):
        self.assertEqual(app.check([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}], {}, CTX), [])

    def test_bad_parameters_are_refused(self):
        with self.assertRaises(capstan.InvalidConfig):
            app.check([], {"resources": []}, CTX)
        with self.assertRaises(capstan.InvalidConfig):
            app.check([], {"resource": ["cpu"]}, CTX)


if __name__ == "__main__":
    unittest.main()
