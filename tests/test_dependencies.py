"""Every dependency is pinned with hashes, and the library internals we subclass still have the shape we rely on.

requirements*.txt name the direct dependencies; scripts/lock turns them into
requirements*.lock, which pin every package (indirect ones too) with hashes and
are what scripts/run, scripts/test and CI install. orderdesk/broker.py and
orderdesk/cache.py override private methods of kombu's and Django's Redis
clients: an upgrade that renames or stops calling them would quietly turn our
override into dead code (or break it), so the tests below say so loudly.
"""

import inspect
import os
import re
import uuid
from importlib import metadata
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

ROOT = Path(__file__).resolve().parent.parent


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements(path: Path) -> dict[str, str]:
    """name → version of the `name==version` lines of a requirements file (its -r includes left out)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        assert match, f"{path.name}: {line!r} is not pinned as name==version"
        pins[normalized(match[1])] = match[3]
    return pins


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name → (version, hashes) of a pip-compile lock file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line):
            current = normalized(match[1])
            entries[current] = (match[2], [])
        elif current and (match := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            entries[current][1].append(match[1])
        elif line.strip() and not line.startswith((" ", "#")):
            pytest.fail(f"{path.name}: unexpected line {line!r}; regenerate it with scripts/lock")
    return entries


RUN_LOCK = locked(ROOT / "requirements.lock")
DEV_LOCK = locked(ROOT / "requirements-dev.lock")


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", RUN_LOCK), ("requirements-dev.txt", DEV_LOCK)],
)
def test_every_requirement_is_locked_at_its_pinned_version(requirements, lock):
    for name, version in pinned_requirements(ROOT / requirements).items():
        assert name in lock, f"{name} is in {requirements} but not in its lock file: run scripts/lock"
        assert lock[name][0] == version, f"{requirements} pins {name}=={version}, the lock {lock[name][0]}: run scripts/lock"


def test_the_dev_lock_includes_everything_the_run_lock_pins_at_the_same_versions():
    dev_requirements = pinned_requirements(ROOT / "requirements-dev.txt")
    assert set(pinned_requirements(ROOT / "requirements.txt")) <= set(RUN_LOCK)
    for name, (version, hashes) in RUN_LOCK.items():
        assert DEV_LOCK.get(name, (None, []))[0] == version, f"{name}: run lock {version}, dev lock {DEV_LOCK.get(name)}"
        assert set(DEV_LOCK[name][1]) == set(hashes), name
    assert set(dev_requirements) <= set(DEV_LOCK)


def test_every_locked_package_carries_hashes():
    for lock in (RUN_LOCK, DEV_LOCK):
        unhashed = [name for name, (_version, hashes) in lock.items() if not hashes]
        assert not unhashed, f"locked without hashes: {unhashed}"
    # The Redis stack we subclass is among them, pinned, not floating.
    assert {"kombu", "redis", "django", "celery"} <= set(RUN_LOCK)


def test_the_installed_packages_are_the_locked_ones():
    """The venv these tests run in was installed from requirements-dev.lock (scripts/test, CI)."""
    mismatched = {}
    for name, (version, _hashes) in DEV_LOCK.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            mismatched[name] = (version, installed)
    assert not mismatched, f"locked vs installed: {mismatched}; scripts/test reinstalls from the lock"


# --- The internals orderdesk/broker.py and orderdesk/cache.py build on --------------


def signature(function) -> str:
    return str(inspect.signature(function))


def test_kombu_redis_channel_still_has_the_methods_orderdesk_broker_overrides():
    from kombu.transport import redis

    message = "kombu changed the Redis channel that orderdesk/broker.py overrides: re-check the override before upgrading"
    assert signature(redis.Channel.conn_or_acquire) == "(self, client=None)", message
    assert signature(redis.Channel._create_client) == "(self, asynchronous=False)", message
    assert redis.Transport.Channel is redis.Channel, message
    # Publishing and reading take their client from conn_or_acquire: that is the call we make cheap.
    for method in (redis.Channel._put, redis.Channel._get, redis.Channel._size):
        assert "conn_or_acquire" in inspect.getsource(method), f"{message} ({method.__qualname__})"


def test_django_redis_cache_client_still_has_what_orderdesk_cache_overrides():
    from django.core.cache.backends.redis import RedisCache, RedisCacheClient

    message = "Django changed the Redis cache client that orderdesk/cache.py overrides: re-check the override before upgrading"
    assert signature(RedisCacheClient.get_client) == "(self, key=None, *, write=False)", message
    assert signature(RedisCacheClient._get_connection_pool_index) == "(self, write)", message
    assert signature(RedisCacheClient._get_connection_pool) == "(self, write)", message
    client = RedisCacheClient(["redis://127.0.0.1:1/0"])  # builds no connection
    assert client._client is __import__("redis").Redis, message
    cache = RedisCache("redis://127.0.0.1:1/0", {})
    assert cache._class is RedisCacheClient, message
    assert "self._class(" in inspect.getsource(type(cache)._cache.func), message
    # Every cache operation goes through get_client: that is the call we make cheap.
    for method in (RedisCacheClient.get, RedisCacheClient.set, RedisCacheClient.incr, RedisCacheClient.delete):
        assert "get_client" in inspect.getsource(method), f"{message} ({method.__qualname__})"


def redis_url() -> str:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis://"):
        skip_or_fail("needs Redis: set CELERY_BROKER_URL=redis://…")
    return url


def test_publishing_many_messages_builds_one_redis_client():
    from kombu import Connection

    from orderdesk.broker import Channel

    built = []
    original = Channel._create_client

    def counting(self, *args, **kwargs):
        built.append(args)
        return original(self, *args, **kwargs)

    queue_name = f"test-{uuid.uuid4().hex}"
    with Connection(redis_url(), transport="orderdesk.broker:Transport") as connection:
        connection.default_channel  # noqa: B018 (connects; kombu builds its own clients for the event loop here)
        simple = connection.SimpleQueue(queue_name)
        try:
            Channel._create_client = counting
            for number in range(20):
                simple.put({"order": number})
            assert [simple.get(timeout=2).payload["order"] for _ in range(20)] == list(range(20))
        finally:
            Channel._create_client = original
            simple.queue.delete()
            simple.close()
    assert len(built) <= 1, f"kombu built {len(built)} Redis clients for 20 messages: orderdesk/broker.py no longer takes effect"


def test_many_cache_operations_build_one_redis_client():
    from orderdesk.cache import OrderdeskRedisCache

    cache = OrderdeskRedisCache(redis_url(), {"KEY_PREFIX": f"test-{uuid.uuid4().hex}"})
    built = []
    real_client_class = cache._cache._client

    def counting(**kwargs):
        built.append(kwargs)
        return real_client_class(**kwargs)

    cache._cache._client = counting
    try:
        for number in range(20):
            cache.set("n", number, 30)
            assert cache.get("n") == number
        cache.incr("n")
    finally:
        cache.delete("n")
    # One client for writes and one for reads at most (Django picks a pool per role).
    assert len(built) <= 2, f"Django built {len(built)} Redis clients for 41 operations: orderdesk/cache.py no longer takes effect"
