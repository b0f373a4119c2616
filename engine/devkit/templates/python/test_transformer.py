"""Unit tests of app.py, natively: `python3 -m unittest`."""

import unittest

import app
import capstan_plugin as capstan


class TransformTest(unittest.TestCase):
    def test_labels_are_set_on_every_object(self):
        ctx = capstan.Context("demo", None, ".", "0" * 40)
        objects = app.transform([{"kind": "ConfigMap", "metadata": {"name": "a"}}], {"labels": {"team": "shop"}}, ctx)
        self.assertEqual(objects[0]["metadata"]["labels"], {"team": "shop"})

    def test_an_unknown_parameter_is_refused(self):
        ctx = capstan.Context("demo", None, ".", "0" * 40)
        with self.assertRaises(capstan.InvalidConfig):
            app.transform([], {"label": {}}, ctx)


if __name__ == "__main__":
    unittest.main()
