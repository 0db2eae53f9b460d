"""aesel: a realtime 3D scene streaming server, wire-compatible with Aesel."""

__version__ = "0.1.0"
