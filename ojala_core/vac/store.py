"""Read access to a finished VAC for interactive use: the columns to plot and filter in
memory, other columns loaded when first asked for, full rows and tokens of a few objects on
demand, similarity search, exports.

Memory holds one row per object with the VAC's own columns (predictions, derived values,
classes, UMAP, scores; float32; ids as Arrow strings), or only those named by the caller, and
none of the input photometry, which is read per object from the Parquet row groups.
Embeddings and the similarity index are memory-mapped. Not for producing VACs (see `produce`).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ..io.files import atomic_path
from ..io.jpas import DEFAULT_FLAGS_THRESHOLD, jpas_photometry
from ..io.tables import InputError
from ..tokens import catalogue_tokens
from ..zero_points import ZeroPoints
from .export import EXPORT_FORMATS, export_table
from .similarity import EmbeddingIndex, load_embeddings

__all__ = ["VacStore", "LABEL_PREFIX"]

LABEL_PREFIX = "DESI_"   # DESI values of cross-matched objects: DESI_Z_GAL, DESI_LOGM, ...
# Plot columns computed from stored ones: g − r [mag] and log10 EW(Hα) [dex(Å)] (EW > 0 only).
_DERIVED_PLOT_COLUMNS = {"G_R": ("MAG_G", "MAG_R"), "LOG_HALPHA_EW": ("HALPHA_6562_EW",)}
_RAW_PREFIXES = ("FLAGS_", "MASK_FLAGS_")      # with the photometry prefix: input columns, never in memory
_LAZY_CACHE = 24                               # columns loaded on demand kept at a time
ROW_GROUP_ROWS = 4096                          # rows per Parquet row group of a VAC partition (see produce)
OPEN_PARTITIONS = 16                           # partition files kept open for full rows (the latest opened)
FITS_EXPORT_ROWS = 1_000_000                   # a FITS export is built in memory: larger ones go to Parquet/CSV


class VacStore:
    """One VAC folder (made by ``ojala vac``), optionally joined to DESI labels.

    Parameters
    ----------
    vac_dir : folder with manifest.json, catalogue/part-*.parquet, embeddings/, similarity.faiss
    labels : optional DataFrame with ``JPAS_ID`` and label columns (e.g. a mocks' test_real
        table); they are added as ``DESI_{NAME}`` columns (``TARGETID`` as a string).
    """

    def __init__(self, vac_dir, labels: pd.DataFrame | None = None, columns=None):
        self.path = Path(vac_dir)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"{self.path}: no manifest.json (an unfinished or missing VAC; run 'ojala vac')")
        self.manifest = json.loads(manifest_path.read_text())
        self.prefix = self.manifest["prefix"]
        self.parts = self.manifest["partitions"]
        zero_points = self.manifest.get("zero_points")
        self.zero_points = ZeroPoints.from_dict(zero_points, str(manifest_path)) if zero_points else None
        if any("band_units" not in p for p in self.parts):
            raise InputError(f"{manifest_path}: made by an older 'ojala vac' (no band_units); run 'ojala vac' again")
        self.schema = pq.read_schema(self.path / self.parts[0]["path"])
        self._lazy: dict[str, np.ndarray] = {}
        self._row_group_starts: dict[int, np.ndarray] = {}
        self._open_files: dict[int, pq.ParquetFile] = {}
        self.frame = self._load_frame(columns)
        if labels is not None:
            self._join_labels(labels)
        self._first_rows = np.array([p["first_row"] for p in self.parts])

    def __len__(self):
        return len(self.frame)

    # -- in-memory columns ---------------------------------------------------------------------
    def _vac_columns(self) -> list[str]:
        """The VAC's own columns (no input photometry), as stored."""
        raw = (f"{self.prefix}_", *_RAW_PREFIXES)
        return [n for n in self.schema.names if not n.startswith(raw)]

    def _read_columns(self, names) -> pd.DataFrame:
        """Columns `names` of every partition: floats as float32, text as Arrow strings (no Python string per
        object), other text columns than JPAS_ID as categories. Each partition is cast as it is read, so
        memory peaks near the final size."""
        import pyarrow as pa
        import pyarrow.compute as pc

        def read(path):
            table = pq.read_table(path, columns=list(names))
            return table.cast(pa.schema([pa.field(f.name, pa.float32()) if pa.types.is_float64(f.type) else f
                                         for f in table.schema]))
        table = pa.concat_tables([read(self.path / p["path"]) for p in self.parts], promote_options="permissive")
        for k, field in enumerate(table.schema):      # classes and flags as categories, encoded by Arrow
            if (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)) and field.name != "JPAS_ID":
                table = table.set_column(k, field.name, pc.dictionary_encode(table.column(k)))
        frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow"),
                                              pa.large_string(): pd.StringDtype("pyarrow")}.get)
        del table
        return frame

    def _load_frame(self, columns) -> pd.DataFrame:
        stored = self._vac_columns()
        wanted = stored if columns is None else [c for c in dict.fromkeys(["JPAS_ID", "CLASS", *columns])
                                                 if c in stored]
        derived = {k: v for k, v in _DERIVED_PLOT_COLUMNS.items() if columns is None or k in columns}
        sources = [c for names in derived.values() for c in names if c in stored and c not in wanted]
        frame = self._read_columns(wanted + sources)
        # Ids as Arrow strings: about 20 bytes per object instead of a Python string each.
        frame["JPAS_ID"] = frame["JPAS_ID"].astype("string[pyarrow]")
        for name, values in self._derived(frame, derived).items():
            frame[name] = values
        return frame.drop(columns=sources)

    @staticmethod
    def _derived(frame, derived) -> dict:
        """The `derived` plot columns (names of `_DERIVED_PLOT_COLUMNS`) that `frame`'s columns allow."""
        out = {}
        if "G_R" in derived and {"MAG_G", "MAG_R"} <= set(frame):
            out["G_R"] = (frame["MAG_G"] - frame["MAG_R"]).astype(np.float32)
        if "LOG_HALPHA_EW" in derived and "HALPHA_6562_EW" in frame:
            ew = frame["HALPHA_6562_EW"]
            with np.errstate(divide="ignore", invalid="ignore"):
                out["LOG_HALPHA_EW"] = np.log10(ew.where(ew > 0)).astype(np.float32)
        return out

    @property
    def available(self) -> list[str]:
        """Every column the store can give (`column`): in memory, stored in the VAC, or derived."""
        names = list(self.frame.columns) + [c for c in self._vac_columns() if c not in self.frame]
        names += [c for c in _DERIVED_PLOT_COLUMNS if c not in names]
        return names

    @functools.cached_property
    def shown_redshift(self) -> np.ndarray:
        """The predicted z of each object (float32): Z_QSO for QSOs, Z_GAL otherwise, NaN for stars."""
        cls = self.frame["CLASS"]
        z = np.where((cls == "QSO").to_numpy(), self.column("Z_QSO"), self.column("Z_GAL"))
        return np.where((cls == "STAR").to_numpy(), np.nan, z).astype(np.float32)

    def column(self, name) -> np.ndarray:
        """Values of column `name` for every object: from memory, or read from the partitions when first
        asked (the last `_LAZY_CACHE` such columns are kept)."""
        if name in self.frame:
            return self.frame[name].to_numpy()
        if name not in self._lazy:
            if name in _DERIVED_PLOT_COLUMNS:
                sources = _DERIVED_PLOT_COLUMNS[name]
                values = self._derived(pd.DataFrame({c: self.column(c) for c in sources}), {name: sources})[name]
            elif name in self._vac_columns():
                values = self._read_columns([name])[name]
            else:
                raise KeyError(f"no column {name!r} in the VAC {self.path}")
            if len(self._lazy) >= _LAZY_CACHE:
                self._lazy.pop(next(iter(self._lazy)))
            self._lazy[name] = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
        return self._lazy[name]

    @staticmethod
    def sources(name) -> tuple[str, ...]:
        """The stored columns that column `name` is computed from (itself when it is stored)."""
        return _DERIVED_PLOT_COLUMNS.get(name, (name,))

    def values(self, name, rows) -> np.ndarray:
        """Values of column `name` for VAC rows `rows` only (ids and classes converted for those rows alone)."""
        if name in self.frame:
            return self.frame[name].iloc[np.asarray(rows)].to_numpy()
        return self.column(name)[np.asarray(rows)]

    def is_float(self, name) -> bool:
        """Whether column `name` holds floating-point values (without reading it)."""
        import pyarrow as pa

        if name in self.frame:
            return self.frame[name].dtype.kind == "f"
        if name in _DERIVED_PLOT_COLUMNS:
            return True
        return name in self.schema.names and pa.types.is_floating(self.schema.field(name).type)

    def columns_view(self) -> "ColumnView":
        """A mapping column name → values over every available column (for filter expressions)."""
        return ColumnView(self)

    def _join_labels(self, labels: pd.DataFrame):
        from ..vocabulary import DEFAULT_VOCABULARY

        names = [n for n in DEFAULT_VOCABULARY.labels if n in labels]
        table = labels[["JPAS_ID", *names, *[f"{n}_ERR" for n in names if f"{n}_ERR" in labels]]].copy()
        if "TARGETID" in labels:
            table["TARGETID"] = labels["TARGETID"].astype(str)
        table = table.drop_duplicates("JPAS_ID")
        # Row of each object in `table` (-1: none), matched by Arrow on the ids (no Python string per object).
        import pyarrow as pa
        import pyarrow.compute as pc

        ids = pa.array(self.frame["JPAS_ID"].array)
        at = pc.index_in(ids, value_set=pa.array(table["JPAS_ID"].astype(str).to_numpy())).fill_null(-1).to_numpy()
        found = at >= 0
        for name in [c for c in table.columns if c != "JPAS_ID"]:
            source = table[name].to_numpy()
            if source.dtype.kind == "f":
                values = np.full(len(at), np.nan, dtype=np.float32)
                values[found] = source[at[found]]
            else:
                values = np.full(len(at), None, dtype=object)
                values[found] = source[at[found]]
            self.frame[LABEL_PREFIX + name] = values

    @property
    def label_names(self) -> list[str]:
        """Tokens with DESI values joined (without the prefix)."""
        return [c[len(LABEL_PREFIX):] for c in self.frame.columns
                if c.startswith(LABEL_PREFIX) and not c.endswith("_ERR") and c != LABEL_PREFIX + "TARGETID"]

    def numeric_columns(self) -> list[str]:
        """Numeric columns, in memory or not (from the VAC's schema), without bookkeeping ones."""
        import pyarrow as pa

        in_memory = [c for c in self.frame.columns if self.frame[c].dtype.kind in "fi"]
        stored = [f.name for f in self.schema if f.name in self._vac_columns() and f.name not in self.frame
                  and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))]
        derived = [c for c in _DERIVED_PLOT_COLUMNS if c not in self.frame]
        return [c for c in in_memory + stored + derived if c != "EMBEDDING_ROW"]

    # -- full rows, tokens -----------------------------------------------------------------------
    def _partition_of(self, rows) -> np.ndarray:
        return np.searchsorted(self._first_rows, rows, side="right") - 1

    def full_rows(self, rows, columns=None) -> pd.DataFrame:
        """Every VAC column (inputs included), or those named by `columns`, of the given rows, in the order
        asked. Only the Parquet row groups that hold the rows are read."""
        rows = np.asarray(rows, dtype=np.int64)
        if columns is not None and "EMBEDDING_ROW" not in columns:
            columns = [*columns, "EMBEDDING_ROW"]
        part_of = self._partition_of(rows)
        frames = []
        for k in np.unique(part_of):
            wanted = rows[part_of == k]
            parquet = self._parquet(k)
            starts = self._group_starts(k, parquet)
            groups = np.unique(np.searchsorted(starts, wanted - self.parts[k]["first_row"], side="right") - 1)
            table = parquet.read_row_groups(groups.tolist(), columns=columns)
            # Only the asked rows become pandas (a row group of a few hundred columns costs ~40 ms to convert).
            keep = np.flatnonzero(np.isin(table.column("EMBEDDING_ROW").to_numpy(), wanted))
            frames.append(table.take(keep).to_pandas())
        frame = pd.concat(frames, ignore_index=True).set_index("EMBEDDING_ROW", drop=False)
        return frame.loc[rows].reset_index(drop=True)

    def _parquet(self, k: int) -> pq.ParquetFile:
        """Partition k's Parquet file, opened once (its footer, with hundreds of columns, takes ~20 ms to parse);
        the last `OPEN_PARTITIONS` opened are kept."""
        if k not in self._open_files:
            if len(self._open_files) >= OPEN_PARTITIONS:
                self._open_files.pop(next(iter(self._open_files))).close()
            self._open_files[k] = pq.ParquetFile(self.path / self.parts[k]["path"])
        return self._open_files[k]

    def _group_starts(self, k: int, parquet: pq.ParquetFile) -> np.ndarray:
        """The first row (within partition k) of each of its row groups, read once from its footer."""
        if k not in self._row_group_starts:
            sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)]
            self._row_group_starts[k] = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        return self._row_group_starts[k]

    def local_sample(self, rows, n: int, seed: int = 0) -> np.ndarray:
        """At most `n` of `rows`, drawn (seeded) as whole Parquet row groups of them, then thinned: a
        sample whose full rows are read from a few row groups, not from every partition."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > 1 and not bool(np.all(rows[1:] >= rows[:-1])):
            rows = np.sort(rows)
        if len(rows) <= n:
            return rows
        part_of = self._partition_of(rows)
        group = part_of * (1 << 32) + (rows - self._first_rows[part_of]) // ROW_GROUP_ROWS
        # `group` is sorted: each row group is one run of it (no hashing of millions of rows).
        starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        counts = np.diff(np.r_[starts, len(group)])
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(starts))
        chosen = np.sort(order[:np.searchsorted(np.cumsum(counts[order]), n) + 1])
        picked = np.concatenate([rows[starts[g]:starts[g] + counts[g]] for g in chosen])
        return np.sort(rng.choice(picked, min(n, len(picked)), replace=False))

    def tokens(self, rows, raw: pd.DataFrame | None = None) -> pd.DataFrame:
        """Token tables (as the model saw them) of the given rows, rebuilt from the input columns
        (`raw`: their `full_rows`, when already read)."""
        raw = self.full_rows(rows) if raw is None else raw
        part_of = self._partition_of(raw["EMBEDDING_ROW"].to_numpy())
        pieces = []
        for k in np.unique(part_of):                   # each partition's rows read in its file's own units
            at = np.flatnonzero(part_of == k)
            piece = jpas_photometry(raw.iloc[at].reset_index(drop=True), self.prefix, self.parts[k]["band_units"],
                                    self.path, check_unique=False,
                                    flags_threshold=self.manifest.get("flags_threshold", DEFAULT_FLAGS_THRESHOLD))
            pieces.append(piece.set_axis(at))
        phot = pd.concat(pieces).sort_index()
        tokens = catalogue_tokens(phot, zero_points=self.zero_points)
        tokens["JPAS_ID"] = raw["JPAS_ID"].astype(str).to_numpy()
        # the scale of the NB ratios [erg/s/cm²/Hz], on the synthetic system as they are
        tokens["FNU_iSDSS"] = phot["FNU_iSDSS"].to_numpy() * (1.0 if self.zero_points is None
                                                              else self.zero_points.isdss_flux_factor())
        return tokens

    # -- similarity --------------------------------------------------------------------------------
    @functools.cached_property
    def _embedding_parts(self) -> list[np.ndarray]:
        """Each partition's embeddings, memory-mapped (rows in EMBEDDING_ROW order)."""
        return [np.load(self.path / "embeddings" / (Path(p["path"]).stem + ".npy"), mmap_mode="r")
                for p in self.parts]

    def embedding(self, row: int) -> np.ndarray:
        """The embedding (d,) of VAC row `row` (NaN when the object was not predicted)."""
        k = int(self._partition_of([row])[0])
        return np.asarray(self._embedding_parts[k][row - self.parts[k]["first_row"]], dtype=np.float32)

    @functools.cached_property
    def embeddings(self) -> np.ndarray:
        """Every embedding in memory (for tests and notebooks; the explorer uses `embedding`)."""
        return load_embeddings(self.path)

    @functools.cached_property
    def index(self) -> EmbeddingIndex:
        return EmbeddingIndex.load(self.path, mmap=True) if (self.path / "similarity.faiss").exists() \
            else EmbeddingIndex(self.embeddings)

    def similar(self, row: int, k: int = 8):
        """The k objects nearest to `row` in embedding space: (rows, distances ascending)."""
        vector = self.embedding(row)
        if not np.isfinite(vector).all():
            raise ValueError(f"object {self.frame['JPAS_ID'].iat[row]} has no embedding (it was not predicted)")
        return self.index.neighbours_of(row, vector, k)

    # -- export ------------------------------------------------------------------------------------
    def export(self, rows, path, fmt: str) -> Path:
        """Write the full rows `rows` (inputs, predictions, DESI values if joined) to `path`.

        CSV and Parquet are written one partition at a time (memory holds one partition's selected
        rows); FITS is written whole, so it is refused above `FITS_EXPORT_ROWS` rows."""
        if fmt not in EXPORT_FORMATS:
            raise InputError(f"unknown export format '{fmt}' (choose from {sorted(EXPORT_FORMATS)})")
        rows = np.sort(np.asarray(rows, dtype=np.int64))
        if fmt == "fits" or len(rows) == 0:
            if len(rows) > FITS_EXPORT_ROWS:
                raise InputError(f"{len(rows):,} rows are too many for one FITS table written in memory (at most "
                                 f"{FITS_EXPORT_ROWS:,}): export them as Parquet or CSV")
            return export_table(self._export_frame(rows), path, fmt)
        part_of = self._partition_of(rows)
        writer = None
        with atomic_path(path) as tmp:
            for k in np.unique(part_of):
                frame = self._export_frame(rows[part_of == k])
                if fmt == "csv":
                    frame.to_csv(tmp, index=False, mode="w" if writer is None else "a", header=writer is None)
                    writer = True
                else:
                    import pyarrow as pa

                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table.cast(writer.schema))
            if fmt == "parquet" and writer is not None:
                writer.close()
        return Path(path)

    def _export_frame(self, rows) -> pd.DataFrame:
        frame = self.full_rows(rows) if len(rows) else pd.read_parquet(self.path / self.parts[0]["path"]).iloc[:0]
        for name in [c for c in self.frame.columns if c.startswith(LABEL_PREFIX)]:
            frame[name] = self.frame[name].to_numpy()[rows] if len(rows) else []
        return frame


class ColumnView:
    """Column name → values of every object of a `VacStore`, loading columns not in memory when asked."""

    def __init__(self, store: VacStore):
        self.store = store
        self.columns = store.available

    def __getitem__(self, name):
        return self.store.column(name)

    def __contains__(self, name):
        return name in self.columns

    def __len__(self):
        return len(self.store)
