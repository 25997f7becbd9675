"""Migration's plain functions: URLs and masking, type mapping and value checks, keyset pages (composite keys,
SQLite and PostgreSQL), refusals, checksums, and verification catching a tampered copy or a changed source."""

import sqlite3
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from postgres_server import postgres  # noqa: F401 - the session's PostgreSQL server, a fixture

from tasks.pipelines.migrate.checkpoints import (
    migration_copy_contents,
    read_migration_checkpoint,
    start_migration_copy,
    write_migration_batch,
)
from tasks.pipelines.migrate.migration import (
    Checksum,
    ConvertedPage,
    MigrationRefused,
    NumericShape,
    Unrepresentable,
    VerificationFailed,
    canonical_row,
    compare_checksums,
    connected,
    convert_value,
    decode_key,
    encode_key,
    inspect_source,
    map_postgres_column,
    map_sqlite_column,
    mask_url,
    parse_key_options,
    parse_source_url,
    read_pages,
    redact,
    source_checksum,
    source_in_folder,
    url_without_password,
    warehouse_checksum,
)
from tasks.warehouse.connection import open_warehouse


def sqlite_database(path: Path, script: str, rows: dict[str, list[tuple]] | None = None) -> Path:
    with sqlite3.connect(path) as connection:
        connection.executescript(script)
        for table, values in (rows or {}).items():
            marks = ", ".join("?" for _ in values[0])
            connection.executemany(f"insert into {table} values ({marks})", values)
    connection.close()
    return path


# ---- URLs and masking -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://user:secret@host:5432/db?password=x", "postgresql://user:***@host:5432/db"),
        ("postgresql://user@host/db", "postgresql://user:***@host/db"),
        ("postgres://host:6543/db?sslmode=require", "postgres://host:6543/db"),
        ("postgresql://u:p%40ss@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
    ],
    ids=["password-and-query", "user-only", "no-user", "ipv6-escaped"],
)
def test_a_url_is_shown_without_password_or_query(url, masked):
    assert mask_url(url) == masked


def test_redact_removes_the_password_in_every_spelling():
    url = "postgresql://app:p%40ss word@db:5432/shop?password=other"
    message = f"could not connect to {url}: password p@ss word (p%40ss word) or other rejected"

    redacted = redact(message, url)

    assert "p@ss" not in redacted and "p%40ss" not in redacted and "other" not in redacted
    assert redacted == ("could not connect to postgresql://app:***@db:5432/shop: password *** (***) or *** rejected")


def test_the_password_moves_out_of_the_url():
    assert url_without_password("postgresql://u:p%40ss@h:5432/db?sslmode=require&password=p%40ss") == (
        "postgresql://u@h:5432/db?sslmode=require",
        "p@ss",
    )
    with pytest.raises(MigrationRefused, match="two different passwords"):
        url_without_password("postgresql://u:p%40ss@h:5432/db?sslmode=require&password=x")
    assert url_without_password("postgresql://u@h/db?password=x%21") == ("postgresql://u@h/db", "x!")
    assert url_without_password("data/shop.sqlite") == ("data/shop.sqlite", None)


def test_sqlite_sources_are_files_or_sqlite_urls(tmp_path):
    relative = parse_source_url("sqlite:///data/sample_shop.sqlite")
    assert relative.kind == "sqlite" and relative.location == str(Path("data/sample_shop.sqlite").resolve())
    absolute = parse_source_url(f"sqlite:///{tmp_path}/x.sqlite")  # sqlite:////abs/path
    assert absolute.location == str(tmp_path / "x.sqlite")
    assert parse_source_url(str(tmp_path / "x.sqlite")).masked == f"sqlite:///{tmp_path / 'x.sqlite'}"


@pytest.mark.parametrize(
    ("source", "taken"),
    [
        ("data/shop.sqlite", "/srv/my project/data/shop.sqlite"),
        ("sqlite:///data/shop.sqlite", "sqlite:////srv/my%20project/data/shop.sqlite"),
        ("/abs/shop.sqlite", "/abs/shop.sqlite"),
        ("sqlite:////abs/shop.sqlite", "sqlite:////abs/shop.sqlite"),
        ("~/shop.sqlite", "~/shop.sqlite"),
        ("postgresql://app@db.internal:5432/shop", "postgresql://app@db.internal:5432/shop"),
        ("", ""),
    ],
    ids=["relative-file", "relative-sqlite-url", "absolute-file", "absolute-sqlite-url", "home", "postgres", "empty"],
)
def test_a_relative_sqlite_source_is_taken_in_the_folder_and_a_url_stays_a_url(source, taken):
    folder = Path("/srv/my project")

    assert source_in_folder(source, folder) == taken


def test_a_relative_sqlite_url_taken_in_a_folder_with_a_space_still_names_the_file():
    taken = source_in_folder("sqlite:///data/shop.sqlite", Path("/srv/my project"))

    assert parse_source_url(taken).location == "/srv/my project/data/shop.sqlite"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("mysql://u:secret@h/db", "scheme 'mysql' is not supported"),
        ("sqlite://", "names no file"),
        ("", "the source is empty"),
    ],
    ids=["other-database", "sqlite-without-path", "empty"],
)
def test_unusable_urls_are_refused_with_a_reason(source, message):
    with pytest.raises(MigrationRefused, match=message) as refused:
        parse_source_url(source)
    assert "secret" not in str(refused.value)


def test_a_missing_or_foreign_file_is_refused(tmp_path):
    with pytest.raises(MigrationRefused, match="does not exist"):
        inspect_source(str(tmp_path / "nope.sqlite"), None, "raw")
    (tmp_path / "text.sqlite").write_text("hello")
    with pytest.raises(MigrationRefused, match="is not a SQLite database"):
        inspect_source(str(tmp_path / "text.sqlite"), None, "raw")


# ---- Type mapping -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "target"),
    [
        ("INTEGER", "BIGINT"),
        ("int", "BIGINT"),
        ("DECIMAL(12,4)", "DECIMAL(12,4)"),
        ("numeric(10, 2)", "DECIMAL(10,2)"),
        ("DECIMAL(40,2)", "VARCHAR"),
        ("REAL", "DOUBLE"),
        ("double precision", "DOUBLE"),
        ("TEXT", "VARCHAR"),
        ("VARCHAR(20)", "VARCHAR"),
        ("BLOB", "BLOB"),
        ("BOOLEAN", "BOOLEAN"),
        ("DATE", "DATE"),
        ("DATETIME", "TIMESTAMP"),
        ("TIMESTAMPTZ", "TIMESTAMPTZ"),
        ("TIME", "TIME"),
        ("UUID", "UUID"),
        ("JSON", "JSON"),
        ("", "VARCHAR"),
        ("MONEY", "VARCHAR"),
    ],
)
def test_sqlite_declared_types_map_to_duckdb(declared, target):
    assert map_sqlite_column("c", declared).target_type == target


def test_unconstrained_numerics_take_the_scale_of_their_data_or_stay_text():
    assert map_sqlite_column("c", "NUMERIC", NumericShape(integer_digits=7, scale=3)).target_type == "DECIMAL(38,3)"
    assert map_sqlite_column("c", "NUMERIC", NumericShape(integer_digits=30, scale=9)).target_type == "VARCHAR"
    assert map_postgres_column("c", "numeric", "numeric", -1, NumericShape(5, 2)).target_type == "DECIMAL(38,2)"


@pytest.mark.parametrize(
    ("base", "modifier", "target"),
    [
        ("int2", -1, "SMALLINT"),
        ("int4", -1, "INTEGER"),
        ("int8", -1, "BIGINT"),
        ("numeric", (12 << 16 | 4) + 4, "DECIMAL(12,4)"),  # atttypmod of numeric(12,4) = 786440
        ("numeric", (39 << 16 | 2) + 4, "VARCHAR"),
        ("float4", -1, "FLOAT"),
        ("float8", -1, "DOUBLE"),
        ("bool", -1, "BOOLEAN"),
        ("varchar", 24, "VARCHAR"),
        ("bpchar", 9, "VARCHAR"),
        ("bytea", -1, "BLOB"),
        ("date", -1, "DATE"),
        ("timestamp", -1, "TIMESTAMP"),
        ("timestamptz", -1, "TIMESTAMPTZ"),
        ("time", -1, "TIME"),
        ("uuid", -1, "UUID"),
        ("jsonb", -1, "JSON"),
        ("interval", -1, "VARCHAR"),
        ("inet", -1, "VARCHAR"),
    ],
)
def test_postgres_types_map_to_duckdb(base, modifier, target):
    assert map_postgres_column("c", base, base, modifier).target_type == target


# ---- Values -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "value", "expected"),
    [
        ("INTEGER", 5, 5),
        ("INTEGER", None, None),
        ("DECIMAL(12,4)", "1.5", Decimal("1.5000")),
        ("DECIMAL(12,4)", 19.99, Decimal("19.9900")),  # SQLite keeps it as the double nearest 19.99
        ("DECIMAL(12,4)", 7, Decimal("7.0000")),
        ("DECIMAL(12,4)", "-0.0", Decimal("0.0000")),
        ("DECIMAL(12,4)", "12345678.1234", Decimal("12345678.1234")),
        ("REAL", 3, 3.0),
        ("BOOLEAN", 1, True),
        ("BOOLEAN", 0, False),
        ("DATE", "2024-02-29", date(2024, 2, 29)),
        ("DATETIME", "2024-03-01 10:00:00.000001", datetime(2024, 3, 1, 10, 0, 0, 1)),
        ("TIMESTAMPTZ", "2024-03-01 10:00:00+02:00", datetime(2024, 3, 1, 8, 0, tzinfo=UTC)),
        ("TIMESTAMPTZ", "2024-03-01T23:30:00.123456-09:30", datetime(2024, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)),
        ("TIMESTAMPTZ", "2024-03-01 10:00:00Z", datetime(2024, 3, 1, 10, 0, tzinfo=UTC)),
        ("TIME", "23:59:59.5", time(23, 59, 59, 500000)),
        ("UUID", "8201E2BD-73AB-4876-B734-D7C1C7FDE805", "8201e2bd-73ab-4876-b734-d7c1c7fde805"),
        ("JSON", '{"a": [1, 2]}', '{"a": [1, 2]}'),
        ("BLOB", b"\x00\xff", b"\x00\xff"),
        ("TEXT", "Ξανθή 🌟", "Ξανθή 🌟"),
        ("", 42, "42"),
    ],
)
def test_sqlite_values_that_fit_convert_exactly(declared, value, expected):
    converted = convert_value(map_sqlite_column("c", declared), value)
    assert converted == expected and type(converted) is type(expected)


@pytest.mark.parametrize(
    ("declared", "value", "reason"),
    [
        ("INTEGER", "abc", "c: 'abc' is not a valid BIGINT (not an integer)"),
        ("INTEGER", 2.5, "c: 2.5 is not a valid BIGINT (not an integer)"),
        ("DECIMAL(12,4)", "n/a", "c: 'n/a' is not a valid DECIMAL(12,4) (not a number)"),
        ("DECIMAL(12,4)", 12.34567, "c: 12.34567 is not a valid DECIMAL(12,4) (more than 4 decimal places)"),
        ("DECIMAL(12,4)", 123456789, "c: 123456789 is not a valid DECIMAL(12,4) (more than 12 digits)"),
        ("REAL", "fast", "c: 'fast' is not a valid DOUBLE (not a number)"),
        ("BOOLEAN", 2, "c: 2 is not a valid BOOLEAN (booleans are 0 or 1)"),
        ("DATE", "2023-02-29", "c: '2023-02-29' is not a valid DATE (no such day)"),
        ("DATE", "1/5/2024", "c: '1/5/2024' is not a valid DATE (dates are written YYYY-MM-DD)"),
        ("DATETIME", "2024-03-01 10:00:00+01:00", "c: '2024-03-01 10:00:00+01:00' is not a valid TIMESTAMP"),
        ("TIMESTAMPTZ", "2024-03-01 10:00:00", "c: '2024-03-01 10:00:00' is not a valid TIMESTAMPTZ"),
        ("UUID", "not-a-uuid", "c: 'not-a-uuid' is not a valid UUID"),
        ("JSON", "{broken", "c: '{broken' is not a valid JSON (not valid JSON)"),
        ("BLOB", "text", "c: 'text' is not a valid BLOB (not bytes)"),
        ("TEXT", b"\x00", "c: a 1-byte BLOB is not a valid VARCHAR (not text)"),
    ],
)
def test_sqlite_values_that_break_their_type_are_refused_with_a_reason(declared, value, reason):
    with pytest.raises(Unrepresentable) as refused:
        convert_value(map_sqlite_column("c", declared), value)
    assert str(refused.value).startswith(reason)


def test_a_real_is_kept_as_the_single_precision_value_duckdb_stores():
    # 0.1 as a 4-byte float is 0.100000001490116119384765625
    assert convert_value(map_postgres_column("c", "real", "float4", -1), 0.1) == 0.10000000149011612


def test_canonical_rows_agree_across_offsets_and_zero_signs():
    berlin = datetime.fromisoformat("2024-03-01 10:00:00+01:00")
    utc = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
    assert canonical_row([berlin, Decimal("-0.00"), None]) == canonical_row([utc, Decimal("0.00"), None])
    assert canonical_row([None]) != canonical_row(["None"])
    assert canonical_row([b"\x01"]) == '["\\\\x01"]'


def test_keys_survive_the_checkpoint_with_their_types():
    key = (1, "a", Decimal("1.50"), datetime(2024, 1, 1, tzinfo=UTC), date(2024, 1, 1), b"\x00", 0.5, None)
    assert decode_key(encode_key(key)) == key
    assert decode_key(None) is None


def test_key_options_name_a_table_or_all_keyless_tables():
    assert parse_key_options(["page_views=session_id, seq", "id"]) == {
        "page_views": ("session_id", "seq"),
        None: ("id",),
    }
    with pytest.raises(MigrationRefused, match="names no column"):
        parse_key_options(["t="])


# ---- Planning and pages -----------------------------------------------------------------------------------------------

COMPOSITE = """
create table lines (order_id integer not null, line integer not null, product text, primary key (order_id, line));
create table log (at text, message text);
create table dupes (a integer, b text);
"""
# order 1 has 5 lines, order 2 has 1, order 3 has 4: with pages of 3, a page ends inside order 1 and order 3
LINES = [(order, line, f"p{order}.{line}") for order, count in ((3, 4), (1, 5), (2, 1)) for line in range(count, 0, -1)]


@pytest.fixture
def composite_db(tmp_path):
    return sqlite_database(
        tmp_path / "composite.sqlite",
        COMPOSITE,
        {
            "lines": LINES,
            "log": [("2024-01-01", "a"), ("2024-01-02", "b")],
            "dupes": [(1, "x"), (1, "x"), (None, "y")],
        },
    )


def test_composite_keys_page_in_key_order_across_equal_first_keys(composite_db):
    plan = inspect_source(str(composite_db), ["lines"], "raw").tables[0]
    assert plan.key == ("order_id", "line")

    with connected(str(composite_db)) as source:
        pages = list(read_pages(source, plan, None, 3, 0))

    keys = [row[:2] for page in pages for row in page.rows]
    assert keys == [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (2, 1), (3, 1), (3, 2), (3, 3), (3, 4)]
    assert [page.rows_read for page in pages] == [3, 3, 3, 1]
    assert [page.last_key for page in pages] == [(1, 3), (2, 1), (3, 3), (3, 4)]


def test_pages_resume_after_a_key(composite_db):
    plan = inspect_source(str(composite_db), ["lines"], "raw").tables[0]
    with connected(str(composite_db)) as source:
        pages = list(read_pages(source, plan, (1, 3), 4, 3))
    assert [row[:2] for page in pages for row in page.rows] == [(1, 4), (1, 5), (2, 1), (3, 1), (3, 2), (3, 3), (3, 4)]


def test_a_table_without_a_primary_key_is_refused_unless_given_a_key(composite_db):
    with pytest.raises(MigrationRefused) as refused:
        inspect_source(str(composite_db), ["log"], "raw")
    assert str(refused.value) == (
        "table log has no primary key, so it cannot be copied in resumable key order: give one with "
        "--key log=COLUMN[,COLUMN] (columns that are unique and never NULL)"
    )
    plan = inspect_source(str(composite_db), ["log"], "raw", ["log=at"]).tables[0]
    assert plan.key == ("at",) and not plan.key_declared


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("dupes=b", "key (b) is not unique: ('x',) occurs more than once"),
        ("dupes=a", "1 row(s) have NULL in key (a)"),
        ("dupes=zzz", "key column(s) zzz not in dupes"),
    ],
    ids=["duplicates", "nulls", "unknown-column"],
)
def test_a_key_that_cannot_page_the_table_is_refused(composite_db, key, message):
    with pytest.raises(MigrationRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        inspect_source(str(composite_db), ["dupes"], "raw", [key])


def test_an_unknown_table_is_refused_naming_it_and_the_known_ones(composite_db):
    with pytest.raises(MigrationRefused) as refused:
        inspect_source(str(composite_db), ["lines", "orders; drop table lines"], "raw")
    assert str(refused.value).startswith("table 'orders; drop table lines' is not in sqlite:///")
    assert str(refused.value).endswith("(it has: dupes, lines, log)")


def test_postgres_composite_keys_page_across_equal_first_keys(postgres):  # noqa: F811
    url = postgres.fresh_database("pages")
    with postgres.connect("pages") as connection:
        connection.execute("create schema shop")
        connection.execute(
            'create table shop."Order Lines" (region text, order_id int8, line int2, qty int4, '
            "primary key (region, order_id, line))"
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                'insert into shop."Order Lines" values (%s, %s, %s, %s)',
                [(region, order, line, order * line) for region in ("b", "a") for order in (2, 1) for line in (2, 1)],
            )

    plan = inspect_source(url, ["shop.Order Lines"], "raw").tables[0]
    with connected(url) as source:
        pages = list(read_pages(source, plan, None, 3, 0))

    assert plan.source_table == "shop.Order Lines" and plan.target_table == "raw.shop__Order Lines"
    assert plan.key == ("region", "order_id", "line")
    assert [column.target_type for column in plan.columns] == ["VARCHAR", "BIGINT", "SMALLINT", "INTEGER"]
    assert [row for page in pages for row in page.rows] == [
        ("a", 1, 1, 1), ("a", 1, 2, 2), ("a", 2, 1, 2), ("a", 2, 2, 4),
        ("b", 1, 1, 1), ("b", 1, 2, 2), ("b", 2, 1, 2), ("b", 2, 2, 4),
    ]  # fmt: skip
    assert [page.rows_read for page in pages] == [3, 3, 2]


def test_postgres_refuses_a_keyless_table_and_a_wrong_password(postgres):  # noqa: F811
    url = postgres.fresh_database("keyless")
    with postgres.connect("keyless") as connection:
        connection.execute("create table events (at timestamptz, what text)")
    with pytest.raises(MigrationRefused, match="table public.events has no primary key"):
        inspect_source(url, ["events"], "raw")

    wrong = url.replace(postgres.url("keyless").split("@")[0], f"postgresql://{postgres.user}:wrong-Secret-9")
    with pytest.raises(MigrationRefused) as refused:
        inspect_source(wrong, None, "raw")
    assert str(refused.value).startswith(f"cannot connect to postgresql://{postgres.user}:***@127.0.0.1:")
    assert "wrong-Secret-9" not in str(refused.value)


# ---- Verification -----------------------------------------------------------------------------------------------------


def copy_by_hand(source_url: str, warehouse: Path, batch_rows: int):
    """Copy a one-table source into the warehouse's copy table with the warehouse functions, as the flow does."""
    plan = inspect_source(source_url, None, "raw").tables[0]
    with open_warehouse(warehouse) as connection:
        start_migration_copy(connection, plan, None)
    rows_read = 0
    with connected(source_url) as source:
        for page in read_pages(source, plan, None, batch_rows, 0):
            rejects = [(reject.position, reject.raw, reject.reason) for reject in page.rejects]
            with open_warehouse(warehouse) as connection:
                write_migration_batch(
                    connection, plan, page.arrow_table(plan), rejects, encode_key(page.last_key), rows_read, None
                )
            rows_read += page.rows_read
    return plan


def verify(source_url: str, warehouse: Path, plan) -> None:
    with connected(source_url) as source:
        in_source = source_checksum(source, plan, 4)
    with open_warehouse(warehouse) as connection:
        checkpoint = read_migration_checkpoint(connection, plan)
        in_warehouse = warehouse_checksum(*migration_copy_contents(connection, plan, 4))
    compare_checksums(plan, in_source, in_warehouse, checkpoint.rows_copied, checkpoint.rows_rejected)


@pytest.fixture
def prices_db(tmp_path):
    return sqlite_database(
        tmp_path / "prices.sqlite",
        "create table prices (id integer primary key, price decimal(8,2), at timestamptz, label text);",
        {
            "prices": [
                (1, "1.50", "2024-01-01 00:00:00+01:00", "a"),
                (2, "abc", "2024-01-01 00:00:00Z", "b"),  # a reject
                (3, None, None, None),
                (4, "99.99", "2024-06-30 23:59:59.999999-07:00", "d"),
                (5, "0.01", "2024-01-01 12:00:00+05:45", "e"),
            ]
        },
    )


def test_an_untouched_copy_verifies(prices_db, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    plan = copy_by_hand(str(prices_db), warehouse, 2)
    verify(str(prices_db), warehouse, plan)


def test_a_tampered_warehouse_copy_fails_verification(prices_db, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    plan = copy_by_hand(str(prices_db), warehouse, 2)
    with open_warehouse(warehouse) as connection:
        connection.execute('update raw."prices__copying" set price = 1.51 where id = 1')

    with pytest.raises(VerificationFailed, match="5 rows on both sides but the checksums differ"):
        verify(str(prices_db), warehouse, plan)


def test_a_lost_row_fails_verification(prices_db, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    plan = copy_by_hand(str(prices_db), warehouse, 2)
    with open_warehouse(warehouse) as connection:
        connection.execute('delete from raw."prices__copying" where id = 5')

    with pytest.raises(VerificationFailed, match="the source has 5 rows, the warehouse 4 copied"):
        verify(str(prices_db), warehouse, plan)


def test_a_source_changed_between_copy_and_verification_fails_it(prices_db, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    plan = copy_by_hand(str(prices_db), warehouse, 2)
    with sqlite3.connect(prices_db) as connection:
        connection.execute("update prices set label = 'changed' where id = 4")
    connection.close()

    with pytest.raises(VerificationFailed, match="checksums differ"):
        verify(str(prices_db), warehouse, plan)


def test_the_checksum_does_not_depend_on_row_order():
    forward, backward = Checksum(), Checksum()
    rows = [canonical_row([index, f"row {index}"]) for index in range(100)]
    for row in rows:
        forward.add(row)
    for row in reversed(rows):
        backward.add(row)
    assert (forward.rows, forward.total) == (backward.rows, backward.total)
    changed = Checksum()
    for row in [*rows[:-1], canonical_row([99, "row 98"])]:
        changed.add(row)
    assert changed.total != forward.total


def test_an_empty_page_makes_an_empty_arrow_table_with_the_plan_schema(prices_db):
    plan = inspect_source(str(prices_db), None, "raw").tables[0]
    table = ConvertedPage([], [], None).arrow_table(plan)
    assert table.num_rows == 0
    assert [str(field.type) for field in table.schema] == [
        "int64",
        "decimal128(8, 2)",
        "timestamp[us, tz=UTC]",
        "string",
    ]
