"""What the tests share: factories, message and tracking helpers, paths, the test services'
addresses and ``wait_until``. Not collected (no ``test_*`` modules here)."""
