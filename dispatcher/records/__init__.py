"""What the dispatcher keeps of what it sent, and for how long (decisions 0077, 0078)."""
