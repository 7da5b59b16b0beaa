"""``python -m twofa_cli``: the same as the `twofa` command."""

from twofa_cli.cli.main import main

if __name__ == "__main__":
    main()
