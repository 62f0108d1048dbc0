"""The model directory, owned here and nowhere else.

  model_dir.py   the layout (model_config.json, vocabulary.model, checkpoints/<step>/{state,meta}),
                 save/load of the model config with the one vocabulary check, resolve(path, step),
                 complete steps, the checkpoint meta and the trained-on mixture
  manager.py     the one place an Orbax CheckpointManager is made; the trainer's Checkpointer
  restore.py     parameters only: load_model (evaluation), init_params (a run's init_from)
  streaming.py   one tensor at a time: CheckpointReader, write_checkpoint (exports, imports)
"""
