"""Unit tests of app.py, natively: `python3 -m unittest`."""

import unittest

import app


class RenderTest(unittest.TestCase):
    def test_every_text_file_becomes_a_config_map(self):
        objects = app.render_files([("hello.txt", "hi\n")], {"namePrefix": "demo-"})
        self.assertEqual(objects[0]["metadata"]["name"], "demo-hello")
        self.assertEqual(objects[0]["data"]["text"], "hi\n")


if __name__ == "__main__":
    unittest.main()
