"""scrutin-audit: the observer's independent verifier of Scrutin public logs.

Standard library and PyNaCl only; never imports the project's own packages.
"""
