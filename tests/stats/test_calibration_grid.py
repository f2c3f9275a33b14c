"""The calibration grid is made of window sizes that unions of whole units can form, for every pool size.

A 20,000-row baseline (pool of about 12,000 rows, units of 8) once failed to fit: rounding the smallest
size, 50, to the unit gave 48, and clipping it back to 50 gave a size no union of 8-row units makes.
"""

import numpy as np
import pytest

from drift_app.stats import MIN_WINDOW_SIZE, fit_baseline
from drift_app.stats.suite import MAX_UNIT, UNITS_TARGET, calibrate, grid_sizes, unit_size


@pytest.mark.parametrize("unit", range(1, MAX_UNIT + 1))
def test_every_grid_size_is_a_whole_number_of_units_and_at_least_the_smallest_window(unit):
    for max_window in (MIN_WINDOW_SIZE + unit, 333, 1_000, 4_999, 20_000):
        sizes = grid_sizes(max_window, unit)
        assert (sizes % unit == 0).all(), (unit, max_window, sizes)
        assert sizes.min() >= MIN_WINDOW_SIZE and sizes.max() <= max_window
        assert np.all(np.diff(sizes) > 0)


def test_a_pool_too_small_for_one_window_of_whole_units_is_refused_with_its_sizes():
    with pytest.raises(ValueError, match="fewer than one window of 56"):
        grid_sizes(MIN_WINDOW_SIZE + 3, 8)


def test_a_baseline_whose_units_do_not_divide_the_smallest_window_fits_and_calibrates():
    # Pool sizes in 12,000..13,499 rows give units of 8 rows (50 is not a multiple of 8).
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((20_000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    fitted = fit_baseline(vectors, n_components=8, seed=0)
    assert unit_size(fitted.window_rows.size) == fitted.window_rows.size // UNITS_TARGET == 8
    calibration = calibrate(fitted, seed=0, n_windows=99)
    assert calibration is not None
