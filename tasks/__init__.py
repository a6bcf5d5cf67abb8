"""ERNIE 2.0 pre-training tasks (one module each) and the stage-scheduled task controller."""
