"""Labelled text for training and evaluation: the JSONL format of ``{text, all_labels, true_labels}`` items."""
