"""The ``twofa`` command line: thin Typer apps that parse, call a service, render.

Services are imported inside the command functions so that ``twofa --help``
loads neither SQLModel nor any provider SDK.
"""
