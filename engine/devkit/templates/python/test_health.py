"""Unit tests of app.py, natively: `python3 -m unittest`."""

import unittest

import app


class AssessTest(unittest.TestCase):
    def test_the_ready_phase_is_healthy(self):
        self.assertEqual(app.assess({"status": {"phase": "Ready"}}, {}).health, "healthy")
        self.assertEqual(app.assess({"status": {"phase": "Failed"}}, {}).health, "degraded")


if __name__ == "__main__":
    unittest.main()
