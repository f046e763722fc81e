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
    for name in ["t_secs", "x_p", "x_theta", "u_F", "x_next_omega", "nominal_next_v", "target_p"]:
        assert name in table.column_names, table.column_names
    assert table.schema.metadata[b"robot"] == b"cart_pole"
    df = table.to_pandas()
    # Each row's next state is the following row's state (one true plant).
    np.testing.assert_array_equal(df["x_next_theta"].to_numpy()[:-1], df["x_theta"].to_numpy()[1:])
    raw = recede.load_log(log, names=False)
    assert "x_1" in raw.column_names
