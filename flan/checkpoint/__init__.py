"""The model directory: its config file, vocabulary check, Orbax checkpoints, streaming."""
