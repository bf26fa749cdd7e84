"""`swift sft` stages: command.py (argv + env), state.py (stage decisions), run.py (the shell), checkpoints,
topology (NNODES / Slurm / MLP), loss_plot."""
