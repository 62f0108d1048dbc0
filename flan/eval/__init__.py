"""Zero-shot evaluation: rank classification, greedy decoding, metrics and results tables."""
