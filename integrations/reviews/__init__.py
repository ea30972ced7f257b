"""Access reviews: campaigns over one integration's accounts, decisions with their history,
and the closed loop that checks, sync after sync, that each revoke and role change happened.

models (registered in the `integrations` app), services (writes), selectors (reads),
evidence (the auditor's report), notifications (mail to reviewers), tasks (django-q2).
"""
