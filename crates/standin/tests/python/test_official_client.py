"""The stand-in through the official Python WebSocket client (taos-ws-py, pinned in .ci/run).

Starts the stand-in binary (STANDIN_BIN, default target/debug/taos-standin) on a free port
and drives it only through `taosws`. Each TMQ test names the TDengine source it follows.
taos-ws-py turns an error of seek/commit_offset into a PanicException, so errors are caught
as BaseException and checked by their TDengine code.
Run: pytest crates/standin/tests/python
"""

import os
import socket
import subprocess
import time

import pytest
import taosws

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
BIN = os.environ.get("STANDIN_BIN", os.path.join(ROOT, "target", "debug", "taos-standin"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def standin():
    port = free_port()
    proc = subprocess.Popen(
        [BIN, "--listen", f"127.0.0.1:{port}", "--rebalance-interval-ms", "200"],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"stand-in did not start: {proc.stderr.read()!r}")
            time.sleep(0.05)
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def connect(port):
    return taosws.connect(f"ws://root:taosdata@127.0.0.1:{port}")


def consumer(port, group="g"):
    return taosws.Consumer(
        conf={
            "td.connect.websocket.scheme": "ws",
            "td.connect.ip": "127.0.0.1",
            "td.connect.port": str(port),
            "td.connect.user": "root",
            "td.connect.pass": "taosdata",
            "group.id": group,
            "auto.offset.reset": "earliest",
        }
    )


def setup_db(conn, with_topic=True):
    for sql in [
        "CREATE DATABASE db VGROUPS 1",
        "USE db",
        "CREATE TABLE t1 (ts TIMESTAMP, v INT, msg NCHAR(20))",
        "INSERT INTO t1 VALUES (1000, 1, '温度80')",
        "INSERT INTO t1 VALUES (2000, 2, NULL)",
    ]:
        conn.execute(sql)
    if with_topic:
        conn.execute("CREATE TOPIC tp AS DATABASE db")
    rows = list(conn.query("SELECT vgroup_id FROM information_schema.ins_vgroups WHERE db_name = 'db'"))
    return rows[0][0]


def code_of(err):
    return str(err)


def test_connect_query_and_nchar_text(standin):
    conn = connect(standin)
    setup_db(conn, with_topic=False)
    rows = list(conn.query("SELECT v, msg FROM t1"))
    assert rows == [(1, "温度80"), (2, None)]


def test_seek_and_commit_offset_before_poll_need_initialized(standin):
    """clientTmq.c checkWalRange: TSDB_CODE_TMQ_NEED_INITIALIZED (0x4010)."""
    vg = setup_db(connect(standin))
    c = consumer(standin)
    c.subscribe(["tp"])
    for call in (lambda: c.seek("tp", vg, 0), lambda: c.commit_offset("tp", vg, 0)):
        with pytest.raises(BaseException) as e:
            call()
        assert "0x4010" in code_of(e.value)
    c.assignment()
    c.seek("tp", vg, 0)


def test_offset_outside_the_wal_is_version_out_of_range(standin):
    """clientTmq.c checkWalRange: TSDB_CODE_TMQ_VERSION_OUT_OF_RANGE (0x4007)."""
    vg = setup_db(connect(standin))
    c = consumer(standin)
    c.subscribe(["tp"])
    end = [a for t in c.assignment() for a in t.assignments() if a.vg_id() == vg][0].end()
    c.seek("tp", vg, end)
    with pytest.raises(BaseException) as e:
        c.seek("tp", vg, end + 1)
    assert "0x4007" in code_of(e.value)


def test_poll_commit_assignment_committed_position(standin):
    """tqUtil.c: both inserts in one message; clientTmq.c: assignment at its start."""
    vg = setup_db(connect(standin))
    c = consumer(standin)
    c.subscribe(["tp"])
    assert c.list_topics() == ["tp"]
    m = c.poll(timeout=5.0)
    assert m is not None and m.topic() == "tp" and m.vgroup() == vg and m.database() == "db"
    c.commit(m)
    position = c.position("tp", vg)
    assert c.committed("tp", vg) == position
    [a] = [a for t in c.assignment() for a in t.assignments() if a.vg_id() == vg]
    assert a.offset() < position, "assignment holds the start of the last data message"
    assert a.end() > position, "the commit took a WAL version of its own (vnodeSvr.c)"
    assert c.poll(timeout=0.5) is None
    c.unsubscribe()


def test_tmq_rows_through_fetch_raw_data(standin):
    """taos-ws-py reads a data message's rows with `fetch_raw_data` (taosAdapter tmq.go
    `fetchRawBlockNew`): the stand-in's tmq_get_raw SMqDataRsp (clientRawBlockWrite.c
    `encodeMqDataRsp`, tmsg.c `tEncodeMqDataRspCommon`) must decode to the rows written."""
    conn = connect(standin)
    setup_db(conn)
    conn.execute("CREATE TABLE t2 (ts TIMESTAMP, b BIGINT, s VARCHAR(10), d DOUBLE)")
    conn.execute("INSERT INTO t2 VALUES (3000, -5, 'abc', 1.5) (4000, NULL, NULL, NULL)")
    c = consumer(standin)
    c.subscribe(["tp"])
    got = {}
    deadline = time.monotonic() + 30
    while len(got) < 2 and time.monotonic() < deadline:
        m = c.poll(timeout=1.0)
        if m is None:
            continue
        for block in m:
            names = tuple(f.name() for f in block.fields())
            got.setdefault(names, []).extend(tuple(r) for r in block)
        c.commit(m)
    c.close()
    t1 = got[("ts", "v", "msg")]
    assert [(r[1], r[2]) for r in t1] == [(1, "温度80"), (2, None)]
    t2 = got[("ts", "b", "s", "d")]
    assert [(r[1], r[2], r[3]) for r in t2] == [(-5, "abc", 1.5), (None, None, None)]
