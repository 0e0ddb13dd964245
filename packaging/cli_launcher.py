"""Entry script of the `leaf` engine command shipped beside the app in the desktop build.

Same function as the `leaf` console script; a frozen app finds it as
``Path(sys.executable).with_name("leaf")`` (``leaf.exe`` on Windows) to run training jobs.
"""

from leaf_core.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
