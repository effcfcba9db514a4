"""A small typed etcd v3 client over the JSON gRPC gateway (etcd 3.4+), with endpoint failover.

python-etcd3 is unmaintained and pulls in grpc; the gateway that every etcd serves on its client
port (``/v3/kv/range``, ``/v3/lease/grant``, ``/v3/watch`` ...) needs only httpx. Keys and values
travel base64-encoded. Requests go to the endpoint that last answered and fail over to the next on a
transport error, a timeout or an "unavailable" answer, so losing one member of three goes unnoticed.
A watch is one streaming POST read line by line; it ends quietly after ``idle`` seconds without
news so that a silently dead member is noticed, and reports compaction so callers re-read.
A streaming call (keepalive) reports a failure as ``{"error": {"grpc_code": ...}}``: it is read
like any other refusal, so a failure never passes for an empty answer (a lease gone, no key).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from sampleapp.errors import DiscoveryError

log = logging.getLogger(__name__)

# gRPC codes that mean "this member cannot answer now, another may": Unknown (leader lost),
# DeadlineExceeded and Unavailable.
_RETRY_CODES = {2, 4, 14}
_NOT_FOUND = 5
_ELECTION_WAIT = 5.0  # seconds a call keeps retrying members that answer "no leader"
_STALLED = (httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str
    mod_revision: int
    lease: int


@dataclass(frozen=True)
class Event(KeyValue):
    kind: Literal["put", "delete"] = "put"


@dataclass(frozen=True)
class WatchBatch:
    """One watch response: its events, or ``compacted`` when history is gone (re-read all)."""

    events: tuple[Event, ...]
    compacted: bool = False


@dataclass(frozen=True)
class MemberStatus:
    endpoint: str
    healthy: bool
    error: str = ""
    leader: bool = False
    version: str = ""
    raft_index: int = 0


def encode(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode("ascii")


def decode(text: str) -> str:
    return base64.b64decode(text).decode()


def prefix_range_end(prefix: str) -> bytes:
    """The exclusive end of the key range starting with ``prefix`` (etcd's GetPrefixRangeEnd)."""
    raw = bytearray(prefix.encode()).rstrip(b"\xff")
    if not raw:
        return b"\0"  # every key
    raw[-1] += 1
    return bytes(raw)


def _span(prefix: str) -> dict[str, Any]:
    return {"key": encode(prefix), "range_end": encode(prefix_range_end(prefix))}


@contextlib.contextmanager
def map_etcd_errors(endpoint: str) -> Iterator[None]:
    """Translate httpx and decoding failures at one endpoint into DiscoveryError."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise DiscoveryError(
            f"etcd at {endpoint} did not answer in time ({type(exc).__name__}): check it with "
            f"`etcdctl --endpoints {endpoint} endpoint health` or fix ETCD_ENDPOINTS"
        ) from exc
    except httpx.HTTPError as exc:
        raise DiscoveryError(
            f"cannot reach etcd at {endpoint} ({exc or type(exc).__name__}): start etcd "
            "(Debian package etcd-server) or fix ETCD_ENDPOINTS"
        ) from exc
    except (ValueError, KeyError) as exc:
        raise DiscoveryError(
            f"{endpoint} answered something that is not etcd v3's JSON gateway ({exc}): "
            "point ETCD_ENDPOINTS at etcd 3.4 or later"
        ) from exc


def _decode_response(endpoint: str, response: httpx.Response) -> dict[str, Any]:
    """The JSON body; raises (to fail over) when this member cannot serve the request."""
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    streamed = data.get("error")
    if isinstance(streamed, dict):  # a streaming call's error (keepalive): {"error": {...}}
        data = {"code": streamed.get("grpc_code") or 2, "message": streamed.get("message", "")}
    code = int(data.get("code", 0) or 0)
    if code in _RETRY_CODES or (response.status_code >= 500 and not code):
        raise DiscoveryError(
            f"etcd at {endpoint} is unavailable ({data.get('message') or response.status_code}): "
            f"check `etcdctl --endpoints {endpoint} endpoint health`"
        )
    return data


class EtcdClient(contextlib.AbstractContextManager["EtcdClient"]):
    """Blocking client for the few etcd v3 calls discovery needs; safe to share across threads."""

    def __init__(self, endpoints: Sequence[str], *, timeout: float = 2.0) -> None:
        if not endpoints:
            raise DiscoveryError("no etcd endpoint given: set ETCD_ENDPOINTS")
        self.endpoints = tuple(endpoints)
        self.timeout = timeout
        self._preferred = 0
        self._http = httpx.Client(timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(self, key: str, value: str, *, lease: int = 0) -> int:
        body = {"key": encode(key), "value": encode(value), "lease": str(lease)}  # 0: none
        return _revision(self._call("/v3/kv/put", body))

    def put_all(self, entries: Mapping[str, str], *, lease: int = 0) -> int:
        """Write every key in one transaction: a reader sees all of them or none."""
        puts = [
            {"requestPut": {"key": encode(key), "value": encode(value), "lease": str(lease)}}
            for key, value in entries.items()
        ]
        return _revision(self._call("/v3/kv/txn", {"compare": [], "success": puts}))

    def get(self, key: str) -> KeyValue | None:
        kvs, _ = self._range({"key": encode(key)})
        return kvs[0] if kvs else None

    def get_prefix(self, prefix: str) -> tuple[list[KeyValue], int]:
        """Every key under ``prefix`` and the store revision they were read at."""
        return self._range(_span(prefix))

    def delete(self, key: str) -> int:
        return int(self._call("/v3/kv/deleterange", {"key": encode(key)}).get("deleted", 0))

    def delete_prefix(self, prefix: str) -> int:
        return int(self._call("/v3/kv/deleterange", _span(prefix)).get("deleted", 0))

    def grant(self, ttl: int) -> int:
        """A new lease of ``ttl`` seconds; returns its id."""
        return int(self._call("/v3/lease/grant", {"TTL": ttl})["ID"])

    def keepalive(self, lease: int) -> int:
        """Refresh ``lease``; returns its new TTL, or 0 when etcd no longer knows it."""
        data = self._call("/v3/lease/keepalive", {"ID": str(lease)})
        if not isinstance(data.get("result"), dict):
            raise DiscoveryError(
                f"etcd answered a keepalive of lease {lease} without a result ({data}): "
                "point ETCD_ENDPOINTS at etcd 3.4 or later"
            )
        return int(data["result"].get("TTL", 0))

    def revoke(self, lease: int) -> bool:
        """Revoke ``lease`` and delete its keys now; False if it had already expired."""
        data = self._call("/v3/lease/revoke", {"ID": str(lease)}, allow=(_NOT_FOUND,))
        return int(data.get("code", 0) or 0) != _NOT_FOUND

    def time_to_live(self, lease: int) -> int:
        """Seconds left on ``lease`` (-1 when it is gone)."""
        return int(self._call("/v3/lease/timetolive", {"ID": str(lease)}).get("TTL", -1))

    def members(self) -> list[tuple[str, str]]:
        """(name, first client URL) of each member that has one."""
        found = self._call("/v3/cluster/member/list", {}).get("members", [])
        return [
            (m.get("name") or m.get("ID", "?"), m["clientURLs"][0])
            for m in found
            if m.get("clientURLs")
        ]

    def status(self, endpoint: str) -> MemberStatus:
        """One member's own view (no failover): version, leadership, raft index."""
        try:
            data = self._post(endpoint, "/v3/maintenance/status", {})
        except DiscoveryError as exc:
            return MemberStatus(endpoint, healthy=False, error=str(exc).split(":")[0])
        member = data.get("header", {}).get("member_id")
        return MemberStatus(
            endpoint,
            healthy="code" not in data,
            error=str(data.get("message", "")),
            leader=member is not None and member == data.get("leader"),
            version=str(data.get("version", "")),
            raft_index=int(data.get("raftIndex", 0)),
        )

    def watch(self, prefix: str, start_revision: int, *, idle: float) -> Iterator[WatchBatch]:
        """Changes under ``prefix`` from ``start_revision``; ends after ``idle`` quiet seconds."""
        body = {"create_request": {**_span(prefix), "start_revision": str(start_revision)}}
        timeout = httpx.Timeout(self.timeout, read=idle)
        last = "no answer"
        for endpoint in self._rotation():
            connected = False
            stream = self._http.stream("POST", f"{endpoint}/v3/watch", json=body, timeout=timeout)
            try:
                with map_etcd_errors(endpoint), stream as response:
                    if response.status_code != 200:
                        response.read()
                        _raise_for_code(_decode_response(endpoint, response), "/v3/watch")
                    connected = True
                    self._preferred = self.endpoints.index(endpoint)
                    with contextlib.suppress(httpx.ReadTimeout):  # ``idle`` quiet seconds
                        for line in filter(str.strip, response.iter_lines()):
                            batch = _watch_batch(endpoint, json.loads(line))
                            if batch.events or batch.compacted:
                                yield batch
                    return
            except DiscoveryError as exc:
                if connected:
                    raise
                last = str(exc)
        raise self._all_failed(last)

    def _range(self, body: dict[str, Any]) -> tuple[list[KeyValue], int]:
        data = self._call("/v3/kv/range", body)
        return [KeyValue(*_fields(kv)) for kv in data.get("kvs", [])], _revision(data)

    def _rotation(self) -> tuple[str, ...]:
        return self.endpoints[self._preferred :] + self.endpoints[: self._preferred]

    def _post(self, endpoint: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        with map_etcd_errors(endpoint):
            return _decode_response(endpoint, self._http.post(f"{endpoint}{path}", json=body))

    def _all_failed(self, last: str) -> DiscoveryError:
        return DiscoveryError(
            f"no etcd endpoint answered (tried {', '.join(self.endpoints)}); last error: {last}"
        )

    def _call(self, path: str, body: dict[str, Any], allow: tuple[int, ...] = ()) -> dict[str, Any]:
        last = "no answer"
        deadline = time.monotonic() + _ELECTION_WAIT
        while True:
            answered = False
            for endpoint in self._rotation():
                try:
                    data = self._post(endpoint, path, body)
                except DiscoveryError as exc:
                    log.debug("etcd call %s failed: %s", path, exc)
                    last = str(exc)
                    # An answer it could not serve, or connected but no (whole) answer: a member
                    # waiting for a leader does that.
                    stalled = isinstance(exc.__cause__, _STALLED)
                    answered |= stalled or not isinstance(exc.__cause__, httpx.HTTPError)
                    continue
                self._preferred = self.endpoints.index(endpoint)
                if int(data.get("code", 0) or 0) not in allow:
                    _raise_for_code(data, path)
                return data
            # Members that answer but cannot serve are electing a leader (a second or two after
            # losing one): worth waiting for. Members that do not answer at all are not.
            if not answered or time.monotonic() > deadline:
                raise self._all_failed(last)
            time.sleep(0.1)


def _raise_for_code(data: dict[str, Any], path: str) -> None:
    if data.get("code"):
        raise DiscoveryError(
            f"etcd refused {path}: {data.get('message') or data.get('error')} "
            f"(gRPC code {data['code']}); check the request and the etcd logs"
        )


def _revision(data: dict[str, Any]) -> int:
    return int(data.get("header", {}).get("revision", 0))


def _watch_batch(endpoint: str, message: dict[str, Any]) -> WatchBatch:
    if "error" in message:
        raise DiscoveryError(f"etcd at {endpoint} ended the watch: {message['error']}")
    result = message.get("result", {})
    if result.get("canceled") or int(result.get("compact_revision", 0) or 0):
        return WatchBatch((), compacted=True)
    return WatchBatch(
        tuple(
            Event(*_fields(e["kv"]), kind="delete" if e.get("type") == "DELETE" else "put")
            for e in result.get("events", [])
        )
    )


def _fields(kv: dict[str, Any]) -> tuple[str, str, int, int]:
    """key, value, mod_revision, lease of a gateway ``kv``."""
    value, revision, lease = kv.get("value", ""), kv.get("mod_revision", 0), kv.get("lease", 0)
    return decode(kv["key"]), decode(value), int(revision), int(lease)
