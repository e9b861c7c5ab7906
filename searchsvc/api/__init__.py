"""The HTTP API (the only Flask code besides app.py): read and write routes, marshmallow schemas, the
OpenAPI document."""
