"""Stage 3, deliver: claim a delivery, render it, hand it to its channel, record what happened;
after a failure, the contact's next channel or the family's next contact."""
