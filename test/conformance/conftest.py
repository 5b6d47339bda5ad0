"""Fixtures: a session-wide default server, a factory for servers with their own environment,
clients on the data and meta ports, and unique dataset names."""
from __future__ import annotations

from typing import Callable, Iterator, Mapping

import pyarrow.flight as flight
import pytest

from support import LongbowServer, unique_name


def _stop_and_check(server: LongbowServer) -> None:
    code = server.stop()
    try:
        assert code == 0, f"{server.label}: SIGTERM should exit 0, got {code}\n{server.log_text()[-4000:]}"
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def server() -> Iterator[LongbowServer]:
    """The default server (no auth, default memory limit), shared by the whole session."""
    instance = LongbowServer(label="default")
    yield instance
    _stop_and_check(instance)


@pytest.fixture(scope="session")
def server_factory() -> Iterator[Callable[..., LongbowServer]]:
    """start(env, label, data_dir) -> a new server with extra environment; stopped (SIGTERM, exit
    code checked) and its directory removed at session end. A test may stop one earlier and start
    another on the same data_dir to test a restart."""
    started: list[LongbowServer] = []

    def start(env: Mapping[str, str] | None = None, label: str = "custom", data_dir: str | None = None) -> LongbowServer:
        instance = LongbowServer(env, label=label, data_dir=data_dir)
        started.append(instance)
        return instance

    yield start
    failures = []
    for instance in started:
        code = instance.stop() if instance.exit_code is None else instance.exit_code
        if code != 0:
            failures.append(f"{instance.label}: SIGTERM should exit 0, got {code}\n{instance.log_text()[-4000:]}")
    for instance in started:
        instance.cleanup()
    assert not failures, "\n".join(failures)


@pytest.fixture
def client(server: LongbowServer) -> Iterator[flight.FlightClient]:
    connection = server.client()
    yield connection
    connection.close()


@pytest.fixture
def meta_client(server: LongbowServer) -> Iterator[flight.FlightClient]:
    connection = server.client(meta=True)
    yield connection
    connection.close()


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A dataset name no other test uses."""
    return unique_name(request.node.name)


@pytest.fixture
def make_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    return lambda suffix="": unique_name(f"{request.node.name}-{suffix}")


@pytest.fixture(autouse=True)
def no_unexpected_server_errors(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test during which a server logs an ERROR (an unexpected error, reported to the client
    as INTERNAL) or dies fails, unless the test is an expected failure."""
    before = {id(s): len(s.error_records()) for s in LongbowServer.running}
    yield
    if request.node.get_closest_marker("xfail") is not None:
        return
    for instance in list(LongbowServer.running):
        assert instance.alive(), f"{instance.label} server died:\n{instance.log_text()[-4000:]}"
        errors = instance.error_records()[before.get(id(instance), 0):]
        assert not errors, f"{instance.label} server logged unexpected errors: {errors}"
