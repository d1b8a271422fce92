"""The one MetaData: every table syncd owns is declared here or in a module that imports `metadata`.

Two PostgreSQL schemas: `simplymeet` (the mirror, read by BI and CRMs) and `syncd` (the daemon's own
state: runs, cursors, intents); a third, `simplymeet_bi`, holds views only. Alembic's autogenerate and `alembic check` read this MetaData.
"""

from __future__ import annotations

from sqlalchemy import MetaData

MIRROR_SCHEMA = "simplymeet"
STATE_SCHEMA = "syncd"
SCHEMAS = (MIRROR_SCHEMA, STATE_SCHEMA)
# Views for analysts over the mirror (migration 0010, docs/analytics.md); no tables, so not in SCHEMAS
# (the MetaData and `alembic check` know nothing of views).
BI_SCHEMA = "simplymeet_bi"

# Constraint names are deterministic, so migrations can drop and alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
# Views users query as tables (`simplymeet.event_history`, `syncd.changes`; migration 0013): declared
# for syncd's own queries and the generated docs, outside `metadata` (views are not tables to alembic).
views = MetaData(naming_convention=NAMING_CONVENTION)
