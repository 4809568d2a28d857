"""The operator console: a web page, a read-only JSON API and server-sent events, served by the daemon
(``console.enabled``), and the operator's actions on alerts (Approve, Hold, Withdraw, Re-air).

Sits above ``daemon``: ``board`` (the list, fed by ``handlers.watch``), ``auth`` (tokens, sessions, the CSRF
checks), ``web`` (the aiohttp application), ``media`` (thumbnails), ``run`` (the daemon with its console).
"""
