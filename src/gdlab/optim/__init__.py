"""The rules of a step, pure and small: batch plans, optimizers, learning-rate schedules."""
