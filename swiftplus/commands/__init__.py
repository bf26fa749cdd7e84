"""One thin adapter per verb: parse arguments, call one function."""
