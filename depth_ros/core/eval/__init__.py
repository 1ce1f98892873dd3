"""Evaluation: metrics, data sets, the embedded samples, and the report built from them."""
