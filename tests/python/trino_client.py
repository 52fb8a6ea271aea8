"""Drive `pipelab serve` with Trino's own Python client (PyPI `trino`, DB-API).

    python trino_client.py PORT CHECK

Each check asserts what a Trino client must see and prints one JSON line of findings;
a failed assertion exits non-zero with the reason.
"""

import datetime
import decimal
import json
import sys
import threading
import time

import requests
import trino
from trino.exceptions import TrinoUserError

PORT = int(sys.argv[1])
CHECK = sys.argv[2]


def connect(**kw):
    return trino.dbapi.connect(host="127.0.0.1", port=PORT, user="tester", http_scheme="http", **kw)


def rows(sql, **kw):
    cur = connect(**kw).cursor()
    cur.execute(sql)
    return cur.fetchall(), cur.description


TYPES = """SELECT
  CAST('héllo' AS VARCHAR) AS v,
  CAST(9007199254740993 AS BIGINT) AS b,
  CAST(-2147483648 AS INT) AS i,
  CAST(-32768 AS SMALLINT) AS si,
  CAST(-128 AS TINYINT) AS ti,
  CAST(1.5 AS DOUBLE) AS d,
  CAST(2.25 AS REAL) AS r,
  CAST(12345.67 AS DECIMAL(10,2)) AS dec,
  true AS bo,
  DATE '2024-02-29' AS da,
  arrow_cast('13:45:30.123', 'Time64(Microsecond)') AS t,
  arrow_cast('2024-02-29T13:45:30.123456', 'Timestamp(Microsecond, None)') AS ts,
  arrow_cast('2024-02-29T13:45:30.123Z', 'Timestamp(Millisecond, Some("UTC"))') AS tstz,
  arrow_cast('abc', 'Binary') AS vb,
  make_array(1, 2, 3) AS arr,
  map(['a', 'b'], [1, 2]) AS m,
  named_struct('x', 1, 'y', 'z') AS ro,
  NULL AS n,
  json_parse('{"a": [1, 2], "b": "x"}') AS j
"""


def check_types():
    (row,), description = rows(TYPES)
    utc = datetime.timezone.utc
    want = [
        "héllo",
        9007199254740993,
        -2147483648,
        -32768,
        -128,
        1.5,
        2.25,
        decimal.Decimal("12345.67"),
        True,
        datetime.date(2024, 2, 29),
        datetime.time(13, 45, 30, 123000),
        datetime.datetime(2024, 2, 29, 13, 45, 30, 123456),
        datetime.datetime(2024, 2, 29, 13, 45, 30, 123000, tzinfo=utc),
        b"abc",
        [1, 2, 3],
        {"a": 1, "b": 2},
        (1, "z"),
        None,
        '{"a": [1, 2], "b": "x"}',
    ]
    for (name, *_), got, expected in zip(description, row, want):
        assert got == expected, f"{name}: {got!r} != {expected!r}"
        assert isinstance(got, type(expected)), f"{name}: {type(got)} != {type(expected)}"
    assert row[16].x == 1 and row[16].y == "z", "row fields by name"
    types = {d[0]: d[1] for d in description}
    print(json.dumps({"types": types}))


def check_million():
    cur = connect().cursor()
    started = time.perf_counter()
    cur.execute("SELECT value, repeat('x', 100) AS pad FROM generate_series(1, 1000000)")
    count = total = 0
    while True:
        batch = cur.fetchmany(10000)
        if not batch:
            break
        count += len(batch)
        total += sum(r[0] for r in batch)
        assert all(len(r[1]) == 100 for r in batch)
    seconds = time.perf_counter() - started
    assert count == 1000000, count
    assert total == 500000500000, total
    print(json.dumps({"rows": count, "seconds": seconds, "rows_per_second": count / seconds}))


def check_syntax():
    try:
        rows("SELECT 1\n  FROM t WHERE ) 2")
    except TrinoUserError as e:
        assert e.error_name == "SYNTAX_ERROR", e.error_name
        print(json.dumps({"location": list(e.error_location), "message": e.message}))
        return
    raise AssertionError("no TrinoUserError")


def check_errors():
    try:
        rows("SELECT * FROM no_such_table")
        raise AssertionError("no error for a missing table")
    except TrinoUserError as e:
        assert e.error_name == "TABLE_NOT_FOUND", e.error_name
    base = f"http://127.0.0.1:{PORT}"
    no_user = requests.post(f"{base}/v1/statement", data="SELECT 1")
    assert no_user.status_code == 400, no_user.status_code
    huge = requests.post(f"{base}/v1/statement", data="SELECT " + "1" * (2 << 20),
                         headers={"X-Trino-User": "t"})
    assert huge.status_code == 413, huge.status_code
    bad_session = requests.post(f"{base}/v1/statement", data="SELECT 1",
                                headers={"X-Trino-User": "t", "X-Trino-Session": "no-equals"})
    assert bad_session.status_code == 400, bad_session.status_code
    try:
        rows("SELECT 1", session_properties={"datafusion.no_such_setting": "1"})
        raise AssertionError("no error for an unknown session property")
    except TrinoUserError as e:
        assert e.error_name == "INVALID_SESSION_PROPERTY", e.error_name
    # A session property that is real reaches DataFusion.
    (row,), _ = rows("SELECT 1", session_properties={"datafusion.execution.batch_size": "100"})
    assert row == [1]
    info = requests.get(f"{base}/v1/info").json()
    assert info["coordinator"] is True
    # The server still answers after all of that.
    (row,), _ = rows("SELECT 41 + 1")
    assert row == [42], row
    print(json.dumps({"ok": True}))


def check_cancel():
    base = f"http://127.0.0.1:{PORT}"
    headers = {"X-Trino-User": "t"}
    first = requests.post(f"{base}/v1/statement", headers=headers,
                          data="SELECT count(*) FROM generate_series(1, 20000000000)").json()
    next_uri = first["nextUri"]
    page = requests.get(next_uri).json()  # running: no rows yet
    assert page["stats"]["state"] == "RUNNING", page
    gone = requests.delete(page["nextUri"])
    assert gone.status_code == 204, gone.status_code
    after = requests.get(page["nextUri"])
    assert after.status_code == 404, after.status_code
    # The DB-API cursor's cancel, mid-stream.
    cur = connect().cursor()
    cur.execute("SELECT value FROM generate_series(1, 50000000)")
    cur.fetchmany(10)
    cur.cancel()
    (row,), _ = rows("SELECT 7")
    assert row == [7]
    print(json.dumps({"ok": True}))


def check_concurrent():
    results, errors = {}, []

    def one(n):
        try:
            (row,), _ = rows(f"SELECT sum(value), count(*) FROM generate_series(1, {n})")
            results[n] = row
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{n}: {e!r}")

    threads = [threading.Thread(target=one, args=(100000 + i * 7919,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for n, (total, count) in results.items():
        assert total == n * (n + 1) // 2 and count == n, (n, total, count)
    print(json.dumps({"clients": len(results)}))


def check_https():
    # Over HTTPS, with the server's certificate (argv[3]) trusted and basic credentials:
    # the users file's `reader` reads only the lake, `admin` everything.
    from trino.auth import BasicAuthentication
    from trino.exceptions import HttpError

    def signed_in(user, password):
        return trino.dbapi.connect(host="127.0.0.1", port=PORT, user=user, http_scheme="https",
                                   auth=BasicAuthentication(user, password), verify=sys.argv[3])

    def fetch(conn, sql):
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchall()

    reader, admin = signed_in("reader", "secret"), signed_in("admin", "secret")
    assert fetch(reader, "SELECT 40 + 2") == [[42]]
    try:
        fetch(reader, "SELECT count(*) FROM ref.default.countries")
        raise AssertionError("the reader read a catalog it is not granted")
    except TrinoUserError as e:
        assert e.error_name == "PERMISSION_DENIED", e.error_name
    assert fetch(admin, "SELECT count(*) FROM ref.default.countries") == [[3]]
    try:
        fetch(signed_in("reader", "wrong"), "SELECT 1")
        raise AssertionError("a wrong password was let in")
    except HttpError as e:
        assert "401" in str(e), str(e)
    print(json.dumps({"ok": True}))


{"types": check_types, "million": check_million, "syntax": check_syntax,
 "errors": check_errors, "cancel": check_cancel, "concurrent": check_concurrent,
 "https": check_https}[CHECK]()
