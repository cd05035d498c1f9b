"""What the repository itself promises: the licence Cargo.toml and the images declare is the
one shipped, and a test run leaves the tree as it found it.

Run from tests/packaging: ../../target/py-tools/bin/python -B -m unittest test_repository -v
"""

import os
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


class Licence(unittest.TestCase):
    def test_the_declared_apache_licence_is_shipped_in_full(self):
        declared = [
            line
            for line in (ROOT / "Cargo.toml").read_text().splitlines()
            if line.startswith("license")
        ]
        self.assertEqual(declared, ['license = "Apache-2.0"'])
        self.assertIn(
            'org.opencontainers.image.licenses="Apache-2.0"', (ROOT / "Dockerfile").read_text()
        )
        text = (ROOT / "LICENSE").read_text()
        self.assertTrue(
            text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004\n"),
            text[:200],
        )
        # Every section of the terms, and the appendix, not a summary of them.
        for heading in [
            "1. Definitions.",
            "2. Grant of Copyright License.",
            "3. Grant of Patent License.",
            "4. Redistribution.",
            "5. Submission of Contributions.",
            "6. Trademarks.",
            "7. Disclaimer of Warranty.",
            "8. Limitation of Liability.",
            "9. Accepting Warranty or Additional Liability.",
            "END OF TERMS AND CONDITIONS",
            "APPENDIX: How to apply the Apache License to your work.",
        ]:
            self.assertIn(heading, text)
        self.assertEqual(len(text.split()), 1581, "the standard text, word for word in count")


class CleanTree(unittest.TestCase):
    def test_the_run_writes_no_bytecode_into_the_tree(self):
        # scripts/test runs these tests with -B and PYTHONDONTWRITEBYTECODE=1 (for any Python
        # they start); bytecode beside the tests would be an untracked file after every run.
        if os.environ.get("PACKAGING_TESTS_STRICT") != "1":
            self.skipTest("only scripts/test promises a run without bytecode")
        self.assertTrue(sys.dont_write_bytecode, "run python with -B")
        self.assertEqual(os.environ.get("PYTHONDONTWRITEBYTECODE"), "1")
        self.assertFalse(
            (HERE / "__pycache__").exists(),
            f"{HERE / '__pycache__'} exists: this run, or one before it without -B, wrote it",
        )


if __name__ == "__main__":
    unittest.main()
