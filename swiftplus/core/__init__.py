"""What every step shares; imports nothing above it: errors, stages, runs, process, ports, argv, hub, tools."""
