"""Domain logic. Each function takes a Runtime, runs one transaction, and returns
models or plain data; none imports typer or rich."""
