"""Pure workflow types: graphs, the flow carrier, reducers and value types (stdlib + pydantic)."""
