"""A catalogue without MORPHTYPE or Legacy/WISE magnitudes gets a warning and a manifest entry
(the model tells galaxies from stars and QSOs less well without them)."""
import logging
from pathlib import Path

from ojala_core.io.jpas import flat_catalogue
from ojala_core.sky.build import SKY_FILES
from ojala_core.vac.produce import produce_vac

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "ojala-small"


def test_absent_morphtype_and_broad_bands_are_warned_and_recorded(tiny_sky, tmp_path, caplog):
    frame = flat_catalogue(tiny_sky / SKY_FILES["jpas_catalogue"][0]).iloc[:60]
    assert frame["MORPHTYPE"].astype(str).str.strip().ne("").mean() > 0.8
    legacy = [c for c in frame.columns if c.startswith(("MAG_G", "MAG_R", "MAG_Z", "MAG_W1", "MAG_W2", "MAG_ERR_"))
              and not c.endswith("iSDSS")]
    bare = tmp_path / "bare.parquet"
    frame.drop(columns=["MORPHTYPE", *legacy]).to_parquet(bare)
    with caplog.at_level(logging.WARNING, logger="ojala_core.vac.produce"):
        manifest = produce_vac(SHIPPED, bare, tmp_path / "vac-bare")
    assert manifest["sparse_inputs"] == {"morphtype": 0.0, "broad_bands": 0.0}
    assert sum("MORPHTYPE in 0% of the rows" in r.getMessage() for r in caplog.records) == 1
    full = tmp_path / "full.parquet"
    frame.to_parquet(full)
    manifest = produce_vac(SHIPPED, full, tmp_path / "vac-full")
    assert manifest["sparse_inputs"] == {} and manifest["summary"]["with_isdss"] == 60
