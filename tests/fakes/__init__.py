"""Test doubles of the product's edges. `gateway.FakeGateway`: the gateway in memory (see its docstring)."""
