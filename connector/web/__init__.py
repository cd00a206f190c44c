"""The read-only review page (``leadsync web``; the daemon serves it when ``[web] port`` > 0).

Installed with the ``web`` extra (Flask, Jinja2, matplotlib); the core install stays lean.
"""
