"""The landing zone from the raw-log contract, on a local folder or an object store.

``<landing>/<source>/dt=YYYY-MM-DD/<objects>``; a partition is complete when its
``_SUCCESS`` marker exists. Delivery dates are UTC dates.

The root is a local path or a URL (``s3://bucket/prefix``). Both go through
Airflow's ``ObjectStoragePath`` (fsspec underneath; the Amazon provider brings
``s3://``), so the sensor, the loader, the CLI and the generator have one code
path. Credentials come from the Airflow connection named by
``GROWTHFLOW_LANDING_CONN_ID``, or, when it is unset, from the standard AWS
variables (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, a profile, an instance
role); never from the URL or from code.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from growthflow.errors import BadInput, ConfigError, ServiceUnavailable

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

SOURCES = ("events", "payments", "ad_spend", "campaigns")
SUCCESS_MARKER = "_SUCCESS"

#: Object names the contract allows, per source. Anything else in a partition is
#: refused with a reason (never silently skipped).
_ALLOWED_NAMES = {
    "events": re.compile(r"events-\d{4}-\d+\.jsonl\.gz"),
    "payments": re.compile(r"payments-\d+\.jsonl\.gz"),
    "ad_spend": re.compile(r"[a-z][a-z0-9_]*\.csv"),
    "campaigns": re.compile(r"campaigns\.csv"),
}
#: Compressions the loaders cannot read: named so that the refusal says why.
_OTHER_COMPRESSIONS = (".bz2", ".xz", ".zst", ".zstd", ".lz4", ".zip", ".z", ".br", ".snappy", ".7z", ".tar")


def is_url(root: str | os.PathLike) -> bool:
    return "://" in str(root)


def landing_root_path(root: str | os.PathLike, conn_id: str | None = None) -> "ObjectStoragePath":
    """The landing root as an ``ObjectStoragePath``: a local folder becomes ``file://``."""
    from airflow.sdk import ObjectStoragePath

    text = str(root)
    if not is_url(text):
        text = "file://" + str(Path(text).expanduser().resolve())
    elif not re.match(r"^[a-z][a-z0-9+.-]*://", text):
        raise ConfigError(f"landing root {text[:60]!r} is not a URL like s3://bucket/prefix or a local path")
    try:
        return ObjectStoragePath(text, conn_id=conn_id) if is_url(root) else ObjectStoragePath(text)
    except ValueError as exc:
        raise ConfigError(f"landing root {text[:60]!r}: {exc}; use a local path or a URL like s3://bucket/prefix") \
            from None


def partition_key(source: str, delivery_date: dt.date) -> str:
    """``<source>/dt=YYYY-MM-DD``: only a known source and a real date ever become part of a path."""
    if source not in SOURCES:
        raise BadInput(f"unknown source {str(source)[:40]!r}; use one of {', '.join(SOURCES)}")
    if not isinstance(delivery_date, dt.date):
        raise BadInput(f"delivery date {str(delivery_date)[:40]!r} is not a date; pass one like 2026-09-14")
    return f"{source}/dt={delivery_date.isoformat()}"


def partition_dir(landing_root, source: str, delivery_date: dt.date, conn_id: str | None = None) -> "ObjectStoragePath":
    """The partition's folder under the landing root."""
    return _root(landing_root, conn_id) / partition_key(source, delivery_date)


def publish_partition(local_folder: Path, landing_root, source: str, delivery_date: dt.date,
                      conn_id: str | None = None) -> None:
    """Publish a partition written locally to the landing root: the old marker first, then each
    object whole, the new marker last, so a sensor never sees a partition complete before its
    data is in and a load never reads a half-written object.

    On a folder each object is written under a hidden ``.<name>.partial`` name and renamed into
    place (a rename when the local folder is on the same filesystem); an object-store PUT is
    atomic already. ``local_folder`` is consumed.
    """
    target = partition_dir(landing_root, source, delivery_date, conn_id)
    marker = target / SUCCESS_MARKER
    if _store_call(marker, lambda: _fresh(target) and marker.exists()):
        _store_call(marker, marker.unlink)  # a partition being replaced is not complete
    files = sorted(p for p in Path(local_folder).iterdir() if p.is_file() and p.name != SUCCESS_MARKER)
    local_target = target.protocol in ("file", "local", "")
    if local_target:
        folder = Path(target.path)
        folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        if local_target:
            partial = folder / f".{path.name}.partial"
            shutil.move(path, partial)
            os.replace(partial, folder / path.name)
        else:
            _store_call(target, lambda: target.fs.put_file(str(path), (target / path.name).path))
    if (Path(local_folder) / SUCCESS_MARKER).exists():
        _store_call(marker, marker.touch)


def clear_sources(landing_root, conn_id: str | None = None) -> None:
    """Remove every source's partitions under the landing root (the generator owns what it writes)."""
    root = _root(landing_root, conn_id)
    for source in SOURCES:
        folder = root / source
        if _store_call(folder, folder.exists):
            _store_call(folder, lambda: folder.fs.rm(folder.path, recursive=True))


def partition_ready(landing_root, source: str, delivery_date: dt.date, conn_id: str | None = None) -> bool:
    marker = partition_dir(landing_root, source, delivery_date, conn_id) / SUCCESS_MARKER
    if _store_call(marker, lambda: _fresh(marker.parent) and marker.exists()):
        return True
    _require_bucket(marker)
    return False


def _require_bucket(path) -> None:
    """A partition not there yet is normal; a bucket that is not there is a setting to fix, not a
    reason to wait six hours for a marker."""
    if path.protocol in ("file", "local", ""):
        return
    bucket = path.path.split("/", 1)[0]
    if not _store_call(path, lambda: path.fs.exists(bucket)):
        raise ConfigError(f"landing zone {path.protocol}://{bucket}: the bucket does not exist or is not visible "
                          "with these credentials; check GROWTHFLOW_LANDING_ROOT")


@dataclass(frozen=True)
class LandedObject:
    """One object of a partition, as the store lists it."""

    name: str  #: path below the partition folder (``events-0000-001.jsonl.gz``, or ``sub/x.csv``)
    url: str  #: the full URL (``s3://bucket/prefix/events/dt=.../name``, ``file:///...``)
    size: int
    version: str | None  #: the store's ETag / version id, where it has one
    refusal: str | None  #: why the contract does not allow this object, or None
    path: "ObjectStoragePath" = field(compare=False, repr=False, default=None)

    def open(self):
        """A binary stream over the object, fetched in blocks: memory stays flat in object size.

        Opened on the path's own filesystem (with its connection's credentials) rather than through
        ``ObjectStoragePath.open``, whose lineage wrapper calls Airflow's hook-lineage collector on
        every read: the load records its lineage itself, per object, in ``raw.load_audit``.
        """
        return self.path.fs.open(self.path.path, "rb", block_size=READ_BLOCK_BYTES)

    @property
    def gzipped(self) -> bool:
        return self.name.endswith(".gz")


#: Why the contract refuses an object whole, by reason (what the load audit's refusal_detail says).
#: A load adds ``unreadable`` (the store would not give the object) with the error itself.
REFUSALS = {
    "nested_object": "objects belong directly in the partition folder, not in a sub-folder",
    "name_not_allowed": "the raw-log contract does not allow this name for this source",
    "unknown_compression": "a compression the loader does not read; the contract allows gzip (.jsonl.gz) "
                           "and plain CSV",
}


def refusal_reason(source: str, name: str) -> str | None:
    """Why an object named ``name`` (relative to its partition) cannot be loaded as ``source``, or None."""
    if "/" in name:
        return "nested_object"
    if _ALLOWED_NAMES[source].fullmatch(name):
        return None
    lowered = name.lower()
    if not lowered.endswith((".jsonl.gz", ".csv")) and (
            lowered.endswith(_OTHER_COMPRESSIONS) or re.search(r"\.(jsonl|json|csv)\.[a-z0-9]+$", lowered)):
        return "unknown_compression"
    return "name_not_allowed"


def partition_objects(landing_root, source: str, delivery_date: dt.date,
                      conn_id: str | None = None) -> list[LandedObject]:
    """Every object of one partition except the marker, in name order (delivery order), each
    with the reason the contract refuses it, if any. Nested folders are listed too."""
    folder = partition_dir(landing_root, source, delivery_date, conn_id)
    found = _store_call(folder, lambda: _fresh(folder) and folder.fs.find(folder.path, withdirs=False, detail=True))
    prefix = folder.path.rstrip("/") + "/"
    objects = []
    for key, info in found.items():
        if not key.startswith(prefix):
            continue
        name = key[len(prefix):]
        if name in ("", SUCCESS_MARKER) or name.endswith("/"):
            continue  # the marker, or a zero-byte "folder" placeholder some stores create
        version = info.get("VersionId") or info.get("ETag") or info.get("etag")
        path = folder / name
        objects.append(LandedObject(
            name=name, url=str(path), size=int(info.get("size") or 0),
            version=str(version).strip('"') if version else None, refusal=refusal_reason(source, name), path=path,
        ))
    return sorted(objects, key=lambda o: o.name)


def delivered_dates(landing_root, source: str, conn_id: str | None = None) -> list[dt.date]:
    """Every delivery date that has a complete partition for ``source``."""
    base = _root(landing_root, conn_id) / source
    if not _store_call(base, lambda: _fresh(base) and base.exists()):
        return []
    markers = _store_call(base, lambda: base.fs.glob(base.path.rstrip("/") + f"/dt=*/{SUCCESS_MARKER}"))
    dates = []
    for key in markers:
        folder = PurePosixPath(key).parent.name
        try:
            dates.append(dt.date.fromisoformat(folder[3:]))
        except ValueError:
            continue
    return sorted(dates)


#: Bytes fetched per request from an object store: large enough that the request
#: rate is not the limit, small enough that memory stays flat in object size.
READ_BLOCK_BYTES = 8 << 20


def _root(landing_root, conn_id: str | None) -> "ObjectStoragePath":
    from airflow.sdk import ObjectStoragePath

    if isinstance(landing_root, ObjectStoragePath):
        return landing_root
    return landing_root_path(landing_root, conn_id)


def _fresh(folder) -> bool:
    """Forget what the filesystem remembers of a folder's listing: objects are re-delivered and
    markers appear while a process runs (fsspec caches listings per process)."""
    folder.fs.invalidate_cache(folder.path)
    return True


def _store_call(path, call):
    """Run a listing or existence call; turn the store's errors into one line that says what to do."""
    try:
        return call()
    except (PermissionError, FileNotFoundError, OSError, ValueError) as exc:
        raise _store_error(path, exc) from None
    except Exception as exc:  # botocore's errors do not share a base class with OSError
        if type(exc).__module__.split(".")[0] in ("botocore", "aiobotocore", "s3fs", "aiohttp"):
            raise _store_error(path, exc) from None
        raise


#: Error codes of the S3 API (botocore's ClientError) that mean "fix the settings", not "try later".
_ACCESS_DENIED = {"AccessDenied", "Forbidden", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                  "ExpiredToken", "InvalidToken"}
_NO_BUCKET = {"NoSuchBucket"}


def _store_error_code(exc: BaseException) -> str | None:
    """The S3 error code behind an fsspec error: s3fs raises OSError subclasses from botocore's
    ClientError, which stays in the exception chain."""
    seen = 0
    while exc is not None and seen < 5:
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code"):
            return str(response["Error"]["Code"])
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _store_error(path, exc: Exception) -> Exception:
    where = str(path)
    detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    code = _store_error_code(exc)
    if code in _ACCESS_DENIED or (code is None and isinstance(exc, PermissionError)):
        return ConfigError(f"landing zone {where}: access denied ({detail}); check the credentials of "
                           "GROWTHFLOW_LANDING_CONN_ID or the AWS_* variables, and that they may list and read it")
    if code in _NO_BUCKET:
        return ConfigError(f"landing zone {where}: the bucket does not exist ({detail}); "
                           "check GROWTHFLOW_LANDING_ROOT")
    return ServiceUnavailable(f"landing zone {where}: {detail}; check GROWTHFLOW_LANDING_ROOT and that the "
                              "object store is reachable")
