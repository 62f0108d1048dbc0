"""Training: optimizer, loss, train step, checkpoints and the trainer loop."""
