"""Entry script of the desktop build: the same function as the `leaf-annotate` console script.

PyInstaller runs its entry script as __main__, outside any package, so the app's own module
(which uses package imports) cannot be the entry script itself.
"""

from leaf_app.main import main

if __name__ == "__main__":
    raise SystemExit(main())
