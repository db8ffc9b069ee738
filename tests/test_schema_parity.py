"""The schema is written twice (``MIGRATIONS`` for SQLite, ``POSTGRES_MIGRATIONS`` for PostgreSQL): both engines,
opened at the latest version, must hold the same tables, columns and named indexes, apart from the parts each
engine has on purpose, listed below with the reason.
"""

from __future__ import annotations

from pathlib import Path

from rivya.tasklog import MIGRATIONS, POSTGRES_MIGRATIONS, TaskLog

# Only in one engine, on purpose.
SQLITE_ONLY_TABLES = {
    "jobs_fts", "jobs_fts_config", "jobs_fts_data", "jobs_fts_docsize", "jobs_fts_idx",  # FTS5 prompt search
    "sqlite_sequence",  # AUTOINCREMENT's bookkeeping
}
POSTGRES_ONLY_TABLES = {
    "leases",  # one follower per job across replicas (SQLite has one follower per data folder, by file lock)
    "rechecks",  # Check now reaching the replica that holds the job
    "rollup_definition",  # SQLite reads trigger definitions from sqlite_master
    "schema_version",  # SQLite keeps it in PRAGMA user_version
}
POSTGRES_ONLY_COLUMNS = {("jobs", "result_ms")}  # filled by a trigger for exact medians; SQLite indexes an expression
POSTGRES_ONLY_INDEXES = {
    "jobs_prompt_words",  # the GIN word index that stands for FTS5
    "jobs_unsaved",  # the leases' "save unsaved results" pass
    "leases_holder",  # on the leases table above
}


def sqlite_schema(log: TaskLog) -> tuple[dict[str, list[str]], set[str]]:
    tables = [name for (name,) in log.db.rows("SELECT name FROM sqlite_master WHERE type = 'table'")]
    columns = {table: [row[1] for row in log.db.rows(f"PRAGMA table_info('{table}')")] for table in tables}
    indexes = {name for (name,) in log.db.rows(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'")}
    return columns, indexes


def postgres_schema(log: TaskLog) -> tuple[dict[str, list[str]], set[str]]:
    columns: dict[str, list[str]] = {}
    for table, column in log.db.rows(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "ORDER BY table_name, ordinal_position"
    ):
        columns.setdefault(table, []).append(column)
    # Constraint indexes (primary keys, UNIQUE) are named by PostgreSQL itself; SQLite's are its autoindexes.
    indexes = {name for (name,) in log.db.rows(
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
        "AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'")}
    return columns, indexes


def test_both_engines_reach_the_same_version() -> None:
    assert POSTGRES_MIGRATIONS[-1][0] == len(MIGRATIONS)


def test_both_engines_hold_the_same_tables_columns_and_indexes(tmp_path: Path, postgres_url: str) -> None:
    lite = TaskLog(tmp_path / "log.sqlite3")
    pg = TaskLog(postgres_url)
    try:
        assert lite.schema_version == pg.schema_version == len(MIGRATIONS)
        lite_columns, lite_indexes = sqlite_schema(lite)
        pg_columns, pg_indexes = postgres_schema(pg)
    finally:
        lite.close()
        pg.close()

    assert set(lite_columns) - set(pg_columns) == SQLITE_ONLY_TABLES
    assert set(pg_columns) - set(lite_columns) == POSTGRES_ONLY_TABLES
    for table in set(lite_columns) & set(pg_columns):
        shared = {column for column in pg_columns[table] if (table, column) not in POSTGRES_ONLY_COLUMNS}
        assert set(lite_columns[table]) == shared, table
    assert lite_indexes ^ pg_indexes == POSTGRES_ONLY_INDEXES
