"""Code that runs in the sandbox's child processes, never in the caller's interpreter.

Each module here is a standalone script: the supervisor starts :mod:`.bootstrap` by its file path
with ``python -I -S`` (no site-packages, no environment, not the caller's ``sys.path``), and the
bootstrap finally executes :mod:`.runner`'s source with ``python -I``. So these modules import the
standard library only (a test checks it) and share no state with the ``evaluate`` package;
importing them runs nothing.
"""
