"""The queue between the stages: names, what a message carries, enqueueing (with in-flight
markers the recovery sweep reads), the broker set-up and the embedded Redis."""
