"""Data and corpora: sources, audio, voice activity, synthesis, manifests and their statistics."""
