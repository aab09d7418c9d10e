"""Publishing a partition never shows a reader a half-written object or an early marker."""

from __future__ import annotations

import datetime as dt
import os
import threading

from growthflow.landing import SUCCESS_MARKER, partition_dir, publish_partition

DAY = dt.date(2026, 9, 14)
SIZE = 8 << 20  # large enough that a plain copy would be seen half-way


def _stage(folder, content: bytes) -> None:
    folder.mkdir(parents=True)
    for name in ("events-0000-001.jsonl.gz", "events-0600-002.jsonl.gz", "events-1200-003.jsonl.gz"):
        (folder / name).write_bytes(content)
    (folder / SUCCESS_MARKER).touch()


def test_a_reader_sees_whole_objects_only_and_the_marker_last(tmp_path):
    landing = tmp_path / "landing"
    _stage(tmp_path / "old", b"a" * SIZE)
    publish_partition(tmp_path / "old", str(landing), "events", DAY)
    target = partition_dir(str(landing), "events", DAY).path

    seen_bad: list[str] = []
    stop = threading.Event()

    def read_while_publishing():
        while not stop.is_set():
            names = set(os.listdir(target))
            if SUCCESS_MARKER in names:
                # A complete partition: every object whole, and all of the same delivery.
                sizes = {os.stat(os.path.join(target, n)).st_size for n in names if not n.startswith((".", "_"))}
                contents = {open(os.path.join(target, n), "rb").read(1) for n in names
                            if not n.startswith((".", "_"))}
                if sizes != {SIZE} or len(contents) != 1:
                    seen_bad.append(f"marker with sizes {sizes} and contents {contents}")
            for name in names:
                if not name.startswith((".", "_")) and os.stat(os.path.join(target, name)).st_size != SIZE:
                    seen_bad.append(f"{name} half-written")

    reader = threading.Thread(target=read_while_publishing)
    reader.start()
    _stage(tmp_path / "new", b"b" * SIZE)
    publish_partition(tmp_path / "new", str(landing), "events", DAY)
    stop.set()
    reader.join()
    assert not seen_bad
    assert sorted(os.listdir(target)) == [SUCCESS_MARKER, "events-0000-001.jsonl.gz", "events-0600-002.jsonl.gz",
                                          "events-1200-003.jsonl.gz"]
    assert all(open(os.path.join(target, n), "rb").read(1) == b"b" for n in os.listdir(target) if n != SUCCESS_MARKER)
