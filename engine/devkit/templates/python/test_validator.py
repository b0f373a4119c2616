"""Unit tests of app.py, natively: `python3 -m unittest`."""

import unittest

import app
import capstan_plugin as capstan


class CheckTest(unittest.TestCase):
    def test_a_missing_label_is_an_error_on_its_field(self):
        ctx = capstan.Context("demo", None, ".", "0" * 40)
        [finding] = app.check([{"kind": "ConfigMap", "metadata": {"name": "a"}}], {}, ctx)
        self.assertEqual(finding.severity, "error")
        self.assertEqual(finding.field, "metadata.labels[app.kubernetes.io/name]")


if __name__ == "__main__":
    unittest.main()
