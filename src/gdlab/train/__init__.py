"""Turning gradients into training: the model, the loop, callbacks, traces, sweeps."""
