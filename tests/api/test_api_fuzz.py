"""Property-based fuzzing of the whole API against its own OpenAPI document (schemathesis).

Every operation (erasure excluded: it rewrites the lake) is called with generated valid
and invalid inputs and a valid admin token; no answer may be a 5xx. The examples per
operation are bounded so the run stays within a couple of minutes.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.settings import load_api_settings
from api.tokens import issue
from tests.api.conftest import build_mini_lake

pytestmark = pytest.mark.slow
EXAMPLES = 60  # per operation and mode: ~1 minute in all on a 2-core runner


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    lake = build_mini_lake(tmp_path_factory.mktemp("fuzz") / "lake")
    base = load_api_settings("test")
    limits = {
        "snapshot_refresh_sec": 60.0,
        "rate_limit_per_ip": "1000000/minute",
        "rate_limit_per_token": "1000000/minute",
        "rate_limit_per_profile": "1000000/minute",
    }
    return create_app(base.model_copy(update=limits), "test", str(lake))


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app).exclude(method="DELETE")


@pytest.fixture(scope="module")
def admin_headers():
    return {"Authorization": f"Bearer {issue(load_api_settings('test'), 0, admin=True)}"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_gives_a_server_error(fuzz_schema, admin_headers, mode):
    fuzzed = []
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def call(case):
            case.call_and_validate(headers=admin_headers, checks=[not_a_server_error])

        call()
        fuzzed.append(operation.label)
    assert len(fuzzed) >= 10, fuzzed
