"""Two-person sign-off (issue 16): announcements a school wants checked by a second senior
wait as a request until one approves it (which sends it), rejects it, the requester
withdraws it or, after the school's break-glass delay, sends it alone. Decisions 0088-0090.

``rules`` holds the pure rules (who must ask, who may decide, when break-glass opens),
``wording`` the words of the notices to staff, ``requests`` and ``decisions`` the stored
steps, ``notices`` the sending of the staff notices through the channel adapters."""
