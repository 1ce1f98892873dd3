"""The ``depth-ros`` command."""
