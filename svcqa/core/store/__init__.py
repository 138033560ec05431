"""The workspace database (``.svcqa/state.sqlite``): the one door for SQL.

``Store(path)`` opens (and migrates) the file; each group of tables has an accessor on it
(``store.audit_cache``, ...), defined in a module of this package named after the group.
"""

from svcqa.core.store.database import Store

__all__ = ["Store"]
