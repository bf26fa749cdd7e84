"""The recipe's whole pipeline on tiny models of its own families, with its own settings, in minutes.

`swiftplus rehearse RECIPE`: command.py makes the rehearsal recipe and its substitutions, samples.py the data it
trains on, run.py carries it out and table.py gives the verdict beside estimate.py's memory estimates."""
