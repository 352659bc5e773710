"""Narratives: cross-lingual grouping with stable ids, labels, timelines."""
