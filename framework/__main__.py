"""``python -m framework`` runs the ``nfvd`` command."""

from framework.cli import main

main()
