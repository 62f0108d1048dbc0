"""The data library: catalog -> adapter -> canonical record -> template -> text -> SeqIO task ->
mixture -> packed batches. Nothing here imports JAX models, training or commands."""
