"""MCP server over an OperationDispatcher (needs the ``mcp`` extra).

Named ``mcp_server`` so it never shadows the ``mcp`` SDK it is built on.
Over HTTP it is mounted at ``/mcp`` by :func:`operation_dispatcher.api.create_app`.

What another MCP door reuses so that it refuses and answers alike (the
fleet gateway): :class:`StrictMCPServer`, :func:`as_tool_error`,
:class:`OperationListing` and the page sizes.
"""

from ._server import (
    MCP_EVENT_LOG_LIMIT,
    MCP_PAGE_LIMIT,
    OperationListing,
    StrictMCPServer,
    as_tool_error,
    create_mcp_server,
    run_stdio,
)

__all__ = [
    "MCP_EVENT_LOG_LIMIT",
    "MCP_PAGE_LIMIT",
    "OperationListing",
    "StrictMCPServer",
    "as_tool_error",
    "create_mcp_server",
    "run_stdio",
]
