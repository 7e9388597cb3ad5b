"""What runs in a worker process: the Dramatiq actors (thin: each calls one stage), the worker
loop, and the recovery sweep that puts back work the queue lost."""
