"""Fact-check memory and claim matching: importers, the fact-check store, hybrid matching."""
