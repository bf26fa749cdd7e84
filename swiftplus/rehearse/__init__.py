"""`swiftplus rehearse RECIPE`: the recipe's whole pipeline on tiny models of its own families, with its own
settings, in minutes: command.py (the rehearsal recipe and its substitutions), samples.py (the data it trains
on), table.py (the step table and report), estimate.py (the doctor's memory estimates), run.py (the shell)."""
