"""operation_dispatcher: queue, dispatch and supervise operations for one resource.

Pure Python; never imports rclpy. The ROS 2 glue lives in
``operation_dispatcher_ros``.
"""

from ._dispatcher import INTERRUPTED_FAIL, INTERRUPTED_REQUEUE, STRANDED_CANCEL, STRANDED_FAIL, OperationDispatcher
from ._errors import (
    ERROR_TABLE,
    DeniedError,
    DispatcherError,
    ErrorKind,
    InvalidStateError,
    NotFoundError,
    RequestTimeoutError,
    StorageError,
    UnavailableError,
    ValidationError,
)
from ._handshake import RequestCallback
from ._limits import MAX_STRING_LENGTH, shorten
from ._models import (
    MAX_RETRY_AFTER_SECONDS,
    AddResult,
    Decision,
    Dependency,
    DependencyType,
    DispatcherSnapshot,
    DispatcherStatus,
    DispatchEvent,
    EventLogPage,
    EventType,
    Operation,
    OperationExecution,
    OperationPage,
    OperationRecord,
    OperationState,
    parse_operation,
    parse_operations,
)
from ._notify import NotificationCallback
from ._policies import DenialPolicy, FailureRetryPolicy, FailureStreakPolicy, NotReadyPolicy
from ._queue import DEFAULT_SORT_RULES, DispatchQueue, SortRule
from ._runner import OperationRunner
from ._sqlite_store import SQLiteStore
from ._store import MemoryStore, SkippedRow, Store, StoredState

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_SORT_RULES",
    "ERROR_TABLE",
    "INTERRUPTED_FAIL",
    "INTERRUPTED_REQUEUE",
    "MAX_RETRY_AFTER_SECONDS",
    "MAX_STRING_LENGTH",
    "STRANDED_CANCEL",
    "STRANDED_FAIL",
    "AddResult",
    "Decision",
    "DenialPolicy",
    "DeniedError",
    "Dependency",
    "DependencyType",
    "DispatchEvent",
    "DispatchQueue",
    "DispatcherError",
    "DispatcherSnapshot",
    "DispatcherStatus",
    "ErrorKind",
    "EventLogPage",
    "EventType",
    "FailureRetryPolicy",
    "FailureStreakPolicy",
    "InvalidStateError",
    "MemoryStore",
    "NotFoundError",
    "NotReadyPolicy",
    "NotificationCallback",
    "Operation",
    "OperationDispatcher",
    "OperationExecution",
    "OperationPage",
    "OperationRecord",
    "OperationRunner",
    "OperationState",
    "RequestCallback",
    "RequestTimeoutError",
    "SQLiteStore",
    "SkippedRow",
    "SortRule",
    "StorageError",
    "Store",
    "StoredState",
    "UnavailableError",
    "ValidationError",
    "parse_operation",
    "parse_operations",
    "shorten",
]
