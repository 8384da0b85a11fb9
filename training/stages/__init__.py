"""The DVC pipeline's stages, one command each: `python -m training.stages.<stage>`."""
