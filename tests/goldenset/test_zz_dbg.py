import pytest
from tests.goldenset.test_demo_and_coverage import loaded  # noqa
from goldenset import selectors
pytestmark = pytest.mark.django_db

def test_dbg(loaded):
    d, _ = loaded
    for r in selectors.eval_run_list(deployment=d):
        print(r.model_version, r.pass_rate, r.passed_count, r.failed_count, r.errored_count, r.relative_drop_pct, r.regressed_count, r.category_pass_rates)
        for x in r.results.exclude(outcome="passed").select_related("version_item")[:8]:
            print("   ", x.outcome, x.similarity, x.acceptance_problems, x.error, "|", x.version_item.reference_answer[:60], "|", (x.answer or "")[:60])
