"""Reinforcement learning: networks, prioritized n-step replay, the Rainbow learner, evaluation, the run loop."""
