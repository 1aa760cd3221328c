"""The demo: central + dashboard + simulated checkpoints (``python -m demo``)."""
