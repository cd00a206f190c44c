"""Tests of the built-in sandbox as a test instrument: paging hazards, limits, the brownfield seed."""
