"""Plain typed values and their Aesel JSON shapes. Imports nothing else of aesel; no I/O."""
