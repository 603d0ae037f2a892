"""``python -m emergence.transformer``: run the GPU sweep of :func:`~.experiments.main`.

The command line itself lives in :mod:`emergence.transformer.experiments`, so that the package
can re-export ``main``: ``python -m`` warns when it finds this module imported already.
"""

from .experiments import main

if __name__ == "__main__":
    main()
