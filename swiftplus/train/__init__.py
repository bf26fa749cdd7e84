"""Training stages (stage 1, stage 2, LoRA) through `swift sft`: command.py the argv, run.py the shell.

state.py decides what a stage does, topology.py where this node sits (NNODES / Slurm / MLP), loss_plot.py the curve."""
