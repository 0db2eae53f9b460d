"""The service layer: the one place where a change is validated, applied and published.

REST, UDP and WebSocket all call these services, so a change means the same whichever way
it arrives.
"""
