"""MCP server over an OperationDispatcher (needs the ``mcp`` extra).

Named ``mcp_server`` so it never shadows the ``mcp`` SDK it is built on.
Over HTTP it is mounted at ``/mcp`` by :func:`operation_dispatcher.api.create_app`.
"""

from ._server import create_mcp_server, run_stdio

__all__ = ["create_mcp_server", "run_stdio"]
