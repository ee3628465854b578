"""Training jobs that are not part of the transmission pipeline itself (PocketCLIP's heads)."""
