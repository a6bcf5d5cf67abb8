"""Raw corpora to per-task binary shards (numpy + jieba; no deep-learning framework needed)."""

__version__ = "0.1.0"
