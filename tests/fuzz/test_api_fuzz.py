"""Bounded fuzzing inside `make test`: schemathesis, four roles, FUZZ_EXAMPLES generated requests each.

150 requests per role = 600 in all (about 25 s on 2 cores). `make fuzz` runs the long version.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.fuzz.harness import FUZZ_PERSONAS, examples_from_env, fuzz, load_schema, seed_world

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ_EXAMPLES = 150


def test_generated_requests_for_four_roles_get_no_server_error_and_conform_to_the_schema(personas):
    seed_world()
    # Hashed personal tokens, as every API client uses (DRF's plaintext tokens are not accepted: with them every
    # request was a 401 and the fuzzer tested nothing but authentication).
    tokens = {name: personas.token(name) for name in FUZZ_PERSONAS}
    started = time.monotonic()
    stats = fuzz(schema=load_schema(), tokens=tokens, examples=examples_from_env(FUZZ_EXAMPLES), seed=15)
    seconds = round(time.monotonic() - started, 1)
    print(json.dumps({"fuzz": "schemathesis", "roles": list(FUZZ_PERSONAS), "seconds": seconds, **stats.as_dict()}))
    assert stats.requests + stats.errors == len(FUZZ_PERSONAS) * examples_from_env(FUZZ_EXAMPLES)
    assert stats.server_errors == 0, "\n".join(stats.failures)
    # Every persona is signed in: a 401 means the fuzzer lost its token and tested nothing but authentication.
    assert stats.statuses.get(401, 0) == 0, stats.statuses
    assert stats.nonconforming == 0, "\n".join(stats.failures)
