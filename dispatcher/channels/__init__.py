"""One adapter per provider behind one interface (``base``): a rendered message in, a receipt
out, or a failure of a class the core understands. Provider codes and words stay in here."""
