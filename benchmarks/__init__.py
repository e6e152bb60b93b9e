"""Speed and memory benchmarks of simclr-study; run them with `python -m benchmarks.speed`."""
