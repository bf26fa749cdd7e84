"""What every step shares, below all of them: nothing here imports from a package above core."""
