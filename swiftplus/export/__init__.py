"""`swift export`: merge a LoRA stage's adapters into a full model (command.py: the argv; run.py: the shell)."""
