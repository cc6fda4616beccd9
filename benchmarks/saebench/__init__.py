"""Parts of benchmarks/sae.py."""
