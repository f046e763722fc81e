"""recede.load_log: a run's transition log as a pyarrow table."""

import numpy as np
import pytest

import recede

pa = pytest.importorskip("pyarrow")


def test_log_columns_are_named_after_the_robot(repo, tmp_path):
    log = tmp_path / "p1.arrows"
    summary = recede.run(repo / "configs" / "bench" / "p1.toml", duration=1.0, log=log)
    table = recede.load_log(log)
    assert isinstance(table, pa.Table)
    assert table.num_rows == summary["control_steps"]
    for name in ["t_secs", "x_p_m", "x_theta_rad", "u_F_N", "x_next_omega_rad_s",
                 "nominal_next_v_m_s", "target_p_m_s"]:
        assert name in table.column_names, table.column_names
    assert table.schema.metadata[b"robot"] == b"cart_pole"
    assert table.schema.field("u_F_N").metadata[b"unit"] == b"N"
    assert table.schema.field("target_v_m_s2").metadata[b"unit"] == b"m/s^2"
    df = table.to_pandas()
    # Each row's next state is the following row's state (one true plant).
    np.testing.assert_array_equal(
        df["x_next_theta_rad"].to_numpy()[:-1], df["x_theta_rad"].to_numpy()[1:])
    raw = recede.load_log(log, names=False)
    assert "x_1" in raw.column_names
