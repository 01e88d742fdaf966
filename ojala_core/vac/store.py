"""Read access to a finished VAC for interactive use: the columns to plot and filter in
memory, full rows and tokens of a few objects on demand, similarity search, exports.

Memory holds one row per object with the VAC's own columns (predictions, derived values,
classes, UMAP, scores; float32) and none of the input photometry, which is read per
object from the Parquet row groups. Not for producing VACs (see `produce`).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..io.jpas import DEFAULT_FLAGS_THRESHOLD, jpas_photometry
from ..io.tables import InputError
from ..tokens import catalogue_tokens
from .export import EXPORT_FORMATS, export_table
from .similarity import EmbeddingIndex, load_embeddings

__all__ = ["VacStore", "LABEL_PREFIX"]

LABEL_PREFIX = "DESI_"   # DESI values of cross-matched objects: DESI_Z_GAL, DESI_LOGM, ...
_DERIVED_PLOT_COLUMNS = {"G_R": ("MAG_G", "MAG_R")}


class VacStore:
    """One VAC folder (made by ``ojala vac``), optionally joined to DESI labels.

    Parameters
    ----------
    vac_dir : folder with manifest.json, catalogue/part-*.parquet, embeddings/, similarity.faiss
    labels : optional DataFrame with ``JPAS_ID`` and label columns (e.g. a mocks' test_real
        table); they are added as ``DESI_{NAME}`` columns (``TARGETID`` as a string).
    """

    def __init__(self, vac_dir, labels: pd.DataFrame | None = None):
        self.path = Path(vac_dir)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"{self.path}: no manifest.json (an unfinished or missing VAC; run 'ojala vac')")
        self.manifest = json.loads(manifest_path.read_text())
        self.prefix = self.manifest["prefix"]
        self.parts = self.manifest["partitions"]
        if any("band_units" not in p for p in self.parts):
            raise InputError(f"{manifest_path}: made by an older 'ojala vac' (no band_units); run 'ojala vac' again")
        self.frame = self._load_frame()
        if labels is not None:
            self._join_labels(labels)
        self._first_rows = np.array([p["first_row"] for p in self.parts])

    def __len__(self):
        return len(self.frame)

    # -- in-memory columns ---------------------------------------------------------------------
    def _memory_columns(self) -> list[str]:
        schema = pq.read_schema(self.path / self.parts[0]["path"])
        raw = (f"{self.prefix}_", "FLAGS_", "MASK_FLAGS_")
        return [n for n in schema.names if not n.startswith(raw)]

    def _load_frame(self) -> pd.DataFrame:
        columns = self._memory_columns()
        frames = [pq.read_table(self.path / p["path"], columns=columns).to_pandas() for p in self.parts]
        frame = pd.concat(frames, ignore_index=True)
        for name in frame.columns:
            if frame[name].dtype == np.float64:
                frame[name] = frame[name].astype(np.float32)
            elif frame[name].dtype == object and name not in ("JPAS_ID",):
                frame[name] = frame[name].astype("category")
        frame["JPAS_ID"] = frame["JPAS_ID"].astype(str)
        for name, (a, b) in _DERIVED_PLOT_COLUMNS.items():
            if a in frame and b in frame:
                frame[name] = (frame[a] - frame[b]).astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            frame["LOG_HALPHA_EW"] = np.log10(frame["HALPHA_6562_EW"].where(frame["HALPHA_6562_EW"] > 0))
        return frame

    def _join_labels(self, labels: pd.DataFrame):
        from ..vocabulary import DEFAULT_VOCABULARY

        names = [n for n in DEFAULT_VOCABULARY.labels if n in labels]
        table = labels[["JPAS_ID", *names, *[f"{n}_ERR" for n in names if f"{n}_ERR" in labels]]].copy()
        if "TARGETID" in labels:
            table["TARGETID"] = labels["TARGETID"].astype(str)
        table = table.drop_duplicates("JPAS_ID").set_index("JPAS_ID")
        table.columns = [LABEL_PREFIX + c for c in table.columns]
        joined = table.reindex(self.frame["JPAS_ID"].to_numpy())
        for name in joined.columns:
            values = joined[name].to_numpy()
            self.frame[name] = values.astype(np.float32) if values.dtype.kind == "f" else joined[name].to_numpy()

    @property
    def label_names(self) -> list[str]:
        """Tokens with DESI values joined (without the prefix)."""
        return [c[len(LABEL_PREFIX):] for c in self.frame.columns
                if c.startswith(LABEL_PREFIX) and not c.endswith("_ERR") and c != LABEL_PREFIX + "TARGETID"]

    def numeric_columns(self) -> list[str]:
        return [c for c in self.frame.columns if self.frame[c].dtype.kind in "fi" and c != "EMBEDDING_ROW"]

    # -- full rows, tokens -----------------------------------------------------------------------
    def _partition_of(self, rows) -> np.ndarray:
        return np.searchsorted(self._first_rows, rows, side="right") - 1

    def full_rows(self, rows) -> pd.DataFrame:
        """Every VAC column (inputs included) of the given rows, in the order asked."""
        rows = np.asarray(rows, dtype=np.int64)
        part_of = self._partition_of(rows)
        frames = []
        for k in np.unique(part_of):
            wanted = rows[part_of == k]
            path = self.path / self.parts[k]["path"]
            if len(wanted) > 0.05 * self.parts[k]["rows"]:        # many rows: read the partition once
                frame = pq.read_table(path).to_pandas()
                frames.append(frame[frame["EMBEDDING_ROW"].isin(wanted)])
            else:                                                  # a few: only their row groups
                frames.append(pq.read_table(path, filters=[("EMBEDDING_ROW", "in", wanted.tolist())]).to_pandas())
        frame = pd.concat(frames, ignore_index=True).set_index("EMBEDDING_ROW", drop=False)
        return frame.loc[rows].reset_index(drop=True)

    def tokens(self, rows) -> pd.DataFrame:
        """Token tables (as the model saw them) of the given rows, rebuilt from the input columns."""
        raw = self.full_rows(rows)
        part_of = self._partition_of(raw["EMBEDDING_ROW"].to_numpy())
        pieces = []
        for k in np.unique(part_of):                   # each partition's rows read in its file's own units
            at = np.flatnonzero(part_of == k)
            piece = jpas_photometry(raw.iloc[at].reset_index(drop=True), self.prefix, self.parts[k]["band_units"],
                                    self.path, check_unique=False,
                                    flags_threshold=self.manifest.get("flags_threshold", DEFAULT_FLAGS_THRESHOLD))
            pieces.append(piece.set_axis(at))
        phot = pd.concat(pieces).sort_index()
        tokens = catalogue_tokens(phot)
        tokens["JPAS_ID"] = raw["JPAS_ID"].astype(str).to_numpy()
        tokens["FNU_iSDSS"] = phot["FNU_iSDSS"].to_numpy()     # the scale of the NB ratios [erg/s/cm²/Hz]
        return tokens

    # -- similarity --------------------------------------------------------------------------------
    @functools.cached_property
    def embeddings(self) -> np.ndarray:
        return load_embeddings(self.path)

    @functools.cached_property
    def index(self) -> EmbeddingIndex:
        return EmbeddingIndex.load(self.path) if (self.path / "similarity.faiss").exists() \
            else EmbeddingIndex(self.embeddings)

    def similar(self, row: int, k: int = 8):
        """The k objects nearest to `row` in embedding space: (rows, distances ascending)."""
        if not np.isfinite(self.embeddings[row]).all():
            raise ValueError(f"object {self.frame['JPAS_ID'].iat[row]} has no embedding (it was not predicted)")
        return self.index.neighbours_of(row, self.embeddings, k)

    # -- export ------------------------------------------------------------------------------------
    def export(self, rows, path, fmt: str) -> Path:
        """Write the full rows `rows` (inputs, predictions, DESI values if joined) to `path`."""
        if fmt not in EXPORT_FORMATS:
            raise InputError(f"unknown export format '{fmt}' (choose from {sorted(EXPORT_FORMATS)})")
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        frame = self.full_rows(rows) if len(rows) else pd.read_parquet(self.path / self.parts[0]["path"]).iloc[:0]
        desi = [c for c in self.frame.columns if c.startswith(LABEL_PREFIX)]
        for name in desi:
            frame[name] = self.frame[name].to_numpy()[rows] if len(rows) else []
        return export_table(frame, path, fmt)
