"""The ``twofa`` command line: thin Typer apps that parse, call the library API, render.

Every command calls ``twofa_cli.api.TwoFactor`` (opened by ``output.twofa``), as the
web pages do; ``output.plain`` turns its results into the contract's JSON. The API is
imported inside the command functions so that ``twofa --help`` loads neither SQLModel
nor any provider SDK.
"""
