"""The explorer's state without a browser: selection regions as definitions (box and lasso in
diagram coordinates), saved selections loaded back as regions or id lists, the open object by id."""
import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.path import Path as PolygonPath

from dashboard.state import SUBSET_KIND, ExplorerState
from ojala_core.vac.store import VacStore


@pytest.fixture(scope="module")
def state(tiny_vac):
    return ExplorerState(VacStore(tiny_vac), model=None)


BOX = {"diagram": "BPT", "x": "LOG_NII_HA", "y": "LOG_OIII_HB", "x_range": [-0.9, 0.1], "y_range": [-0.6, 0.9]}
LASSO = {"diagram": "WHAN", "x": "LOG_NII_HA", "y": "LOG_HALPHA_EW",
         "polygon": [[-1.0, 0.5], [0.2, 0.5], [0.2, 2.5], [-0.6, 2.0]]}


def test_box_and_lasso_regions_select_exactly_the_objects_inside(state):
    frame = state.frame
    x, y = frame["LOG_NII_HA"].to_numpy(float), frame["LOG_OIII_HB"].to_numpy(float)
    inside = (x >= -0.9) & (x <= 0.1) & (y >= -0.6) & (y <= 0.9)
    state.select_region(BOX)
    assert state.selection.tolist() == np.flatnonzero(inside).tolist() and 0 < inside.sum() < len(frame)
    assert state.selection_label == "BPT box: LOG_NII_HA in [-0.9, 0.1], LOG_OIII_HB in [-0.6, 0.9]"
    y = frame["LOG_HALPHA_EW"].to_numpy(float)
    ok = np.isfinite(x) & np.isfinite(y)
    inside = np.zeros(len(frame), bool)
    inside[ok] = PolygonPath(np.array(LASSO["polygon"])).contains_points(np.column_stack([x[ok], y[ok]]))
    state.select_region(LASSO)
    assert state.selection.tolist() == np.flatnonzero(inside).tolist() and inside.sum() > 0
    assert json.loads(state.region) == LASSO                       # what the page URL keeps
    state.clear_selection()
    assert state.region == "" and state.selection is None


def test_a_saved_selection_loads_back_as_its_region_or_its_ids(state):
    state.select_region(BOX)
    document = state.subset_document()
    assert document["kind"] == SUBSET_KIND and document["region"] == BOX
    assert len(document["jpas_ids"]) == int(state.mask.sum())
    selected = state.selection.tolist()
    state.clear_selection()
    assert "region re-applied" in state.load_subset(json.dumps(document), "saved.json")
    assert state.selection.tolist() == selected
    ids_only = {**document, "region": None}
    state.clear_selection()
    assert state.load_subset(json.dumps(ids_only), "ids.json") == f"ids.json: {len(document['jpas_ids']):,} of " \
                                                                     f"{len(document['jpas_ids'])} ids found"
    ids = state.frame["JPAS_ID"].iloc[[3, 7, 11]].tolist()
    assert state.load_subset("\n".join([*ids, "not-an-id", ""]), "ids.txt") == "ids.txt: 3 of 4 ids found"
    assert state.selection.tolist() == [3, 7, 11]
    csv = "RA,JPAS_ID,DEC\n" + "\n".join(f"1.0,{i},2.0" for i in ids[:2])
    assert state.load_subset(csv, "ids.csv") == "ids.csv: 2 of 2 ids found"
    state.clear_selection()


@pytest.mark.parametrize("text, message", [
    ('{"kind": "ojala-subset", "region": {', "broken.json: not valid JSON"),
    ('{"jpas_ids": ["1"]}', "broken.json: not a saved OJALA selection"),
    ('{"kind": "ojala-subset", "region": {"diagram": "BPT", "x": "NOPE", "y": "LOG_OIII_HB", '
     '"x_range": [0, 1], "y_range": [0, 1]}}', "the region's x column 'NOPE' is not in this VAC"),
    ('{"kind": "ojala-subset", "region": {"diagram": "BPT", "x": "LOG_NII_HA", "y": "LOG_OIII_HB", '
     '"polygon": [[0, 0], [1, 1]]}}', "at least 3 [x, y] vertices"),
    ("\n\n", "broken.json: no JPAS_ID in the file"),
])
def test_a_bad_subset_file_gets_one_clear_message(state, text, message):
    with pytest.raises(ValueError) as error:
        state.load_subset(text, "broken.json")
    assert message in str(error.value)


def test_the_open_object_follows_its_id_both_ways(state):
    state.current_row = 5
    assert state.open_id == state.frame["JPAS_ID"].iat[5]
    state.open_id = str(state.frame["JPAS_ID"].iat[9])
    assert state.current_row == 9
    state.open_id = "no-such-id"                      # an unknown id from a link leaves the object open
    assert state.current_row == 9


def test_the_url_codec_writes_what_changed_and_restores_it_on_a_new_state(tiny_vac):
    from urllib.parse import parse_qsl

    import panel as pn

    from dashboard import url

    class Location:
        search = ""

    first, tabs, location = ExplorerState(VacStore(tiny_vac), model=None), pn.Tabs(("a", 1), ("b", 2)), Location()
    url.keep(first, tabs, location)
    assert location.search == ""
    first.classes = [c for c in first.classes if c != "STAR"]
    first.mag_range = (18.0, 21.5)
    first.expression = "Z_GAL > 0.1 and P_QSO < 0.5"
    first.select_region(LASSO)
    first.current_row = 5
    tabs.active = 1
    query = dict(parse_qsl(location.search.lstrip("?")))
    assert set(query) == {"classes", "mag", "where", "region", "object", "tab"}   # only what changed
    second, tabs2 = ExplorerState(VacStore(tiny_vac), model=None), pn.Tabs(("a", 1), ("b", 2))
    problems = url.restore(second, tabs2, {**query, "pmin": "2", "tab": "9"})     # P > 1, a 10th tab
    assert len(problems) == 2 and problems[0].startswith("pmin='2' not applied: ")
    assert problems[1] == "tab='9' not applied: there are 2 tabs"
    assert (second.classes, second.mag_range, second.expression) == (first.classes, (18.0, 21.5), first.expression)
    assert second.selection.tolist() == first.selection.tolist() and second.current_row == 5
    assert tabs2.active == 0


def test_selection_modes_combine_like_subset_algebra_and_keep_a_reapplicable_definition(state):
    frame = state.frame
    other = {"diagram": "SFMS", "x": "LOGM", "y": "LOGSFR", "x_range": [9.0, 11.0], "y_range": [-1.0, 2.0]}
    a, b = state.region_rows(BOX), state.region_rows(other)
    assert len(np.intersect1d(a, b)) and len(np.setdiff1d(a, b)) and len(np.setdiff1d(b, a))
    expected = {"add": np.union1d(a, b), "intersect": np.intersect1d(a, b), "subtract": np.setdiff1d(a, b)}
    for mode, rows in expected.items():
        state.selection_mode = "replace"
        state.select_region(BOX)
        state.selection_mode = mode
        state.select_region(other)
        assert state.selection.tolist() == rows.tolist(), mode
        word = {"add": "OR", "intersect": "AND", "subtract": "AND NOT"}[mode]
        assert f") {word} (SFMS box" in state.selection_label
        # the combination is kept as its definition: re-applied, it gives the same rows
        assert state.region_rows(json.loads(state.region)).tolist() == rows.tolist()
    state.selection_mode = "replace"
    state.clear_selection()
    assert len(frame) > 0


def test_undo_walks_back_through_selections_and_a_clear(state):
    state.selection_mode = "replace"
    state.clear_selection()
    state.select_region(BOX)
    first = state.selection.copy()
    state.select_region(LASSO)
    state.clear_selection()
    state.undo()
    assert state.selection_region == LASSO
    state.undo()
    assert state.selection.tolist() == first.tolist() and state.selection_region == BOX
    while state.can_undo:
        state.undo()
    assert state.selection is None


def test_kept_subsets_get_their_own_names_and_colours_and_recall_into_the_selection(state):
    state.selection_mode = "replace"
    state.select_region(BOX)
    s1 = state.keep_subset()
    state.select_region(LASSO)
    s2 = state.keep_subset("ridge")
    assert (s1, s2) == ("S1", "ridge") and state.subsets[s1]["colour"] != state.subsets[s2]["colour"]
    labels = state.subset_labels()
    assert set(np.flatnonzero(labels == "ridge")) == set(state.region_rows(LASSO))
    state.clear_selection()
    state.recall_subset(s1)
    state.recall_subset(s2, mode="intersect")
    assert state.selection.tolist() == np.intersect1d(state.region_rows(BOX), state.region_rows(LASSO)).tolist()
    state.drop_subset(s1)
    assert list(state.subsets) == ["ridge"]
    state.drop_subset("ridge")
    state.clear_selection()
    with pytest.raises(ValueError, match="nothing selected"):
        state.keep_subset()


def test_kept_subsets_travel_as_text_and_come_back_with_their_rows(state, tiny_vac):
    state.selection_mode = "replace"
    state.select_region(BOX)
    state.keep_subset("box")
    state.select_ids(state.frame["JPAS_ID"].iloc[:5], "five")
    state.keep_subset()
    text = state.subsets_text
    other = ExplorerState(VacStore(tiny_vac), model=None)
    other.subsets_text = text                                       # what the page URL restores
    assert list(other.subsets) == ["box", "S1"]
    for name in other.subsets:
        assert other.subsets[name]["rows"].tolist() == state.subsets[name]["rows"].tolist()
        assert other.subsets[name]["label"] == state.subsets[name]["label"]
    for name in list(state.subsets):
        state.drop_subset(name)
    assert state.subsets_text == ""
    state.clear_selection()


def test_a_store_of_a_few_columns_reads_the_others_when_asked(tiny_vac):
    full = VacStore(tiny_vac)
    lean = VacStore(tiny_vac, columns=["MAG_i", "LOG_HALPHA_EW"])
    assert {"JPAS_ID", "CLASS", "MAG_i", "LOG_HALPHA_EW"} == set(lean.frame.columns)
    assert "LOGM_ERR" in lean.available and "G_R" in lean.available and "LOGM_ERR" in lean.numeric_columns()
    np.testing.assert_array_equal(lean.column("LOGM_ERR"), full.frame["LOGM_ERR"].to_numpy())
    np.testing.assert_array_equal(lean.column("G_R"), full.frame["G_R"].to_numpy())
    np.testing.assert_array_equal(lean.values("CLASS", [4, 1]), full.frame["CLASS"].to_numpy()[[4, 1]])
    assert lean.is_float("LOGM_ERR") and not lean.is_float("CLASS") and not lean.is_float("QUALITY_FLAG")
    state = ExplorerState(lean, model=None)
    state.expression = "LOGM_ERR < 0.2 and G_R > 0.5"                # columns read when the filter names them
    assert state.expression_error == ""
    expected = (full.frame["LOGM_ERR"] < 0.2) & (full.frame["G_R"] > 0.5) & full.frame["CLASS"].notna()
    assert state.mask.tolist() == expected.tolist()
    with pytest.raises(KeyError, match="no column 'NOPE'"):
        lean.column("NOPE")


def test_a_local_sample_takes_whole_row_groups_of_the_rows(tiny_vac):
    from ojala_core.vac.store import ROW_GROUP_ROWS

    store = VacStore(tiny_vac, columns=[])
    rows = np.arange(0, len(store), 2)
    sample = store.local_sample(rows, 40, seed=3)
    assert len(sample) == 40 and set(sample) <= set(rows) and np.all(np.diff(sample) > 0)
    assert np.array_equal(sample, store.local_sample(rows, 40, seed=3))
    first = np.array([p["first_row"] for p in store.parts])
    part = np.searchsorted(first, sample, side="right") - 1
    groups = set(zip(part, (sample - first[part]) // ROW_GROUP_ROWS))
    assert len(groups) <= 2                           # a tiny VAC: one row group per partition of 500 rows
    assert np.array_equal(store.local_sample(rows[:10], 40), rows[:10])


def test_full_rows_come_in_the_order_asked_with_every_or_the_named_columns(tiny_vac):
    store = VacStore(tiny_vac, columns=[])
    whole = pd.concat([pd.read_parquet(tiny_vac / p["path"]) for p in store.parts], ignore_index=True)
    rows = np.array([len(store) - 1, 3, 700, 2, 501])                # across partitions, unsorted
    got = store.full_rows(rows)
    pd.testing.assert_frame_equal(got, whole.set_index("EMBEDDING_ROW", drop=False).loc[rows].reset_index(drop=True))
    some = store.full_rows(rows, columns=["JPAS_ID", "Z_GAL"])
    assert list(some.columns) == ["JPAS_ID", "Z_GAL", "EMBEDDING_ROW"]
    assert some["JPAS_ID"].tolist() == whole["JPAS_ID"].iloc[rows].tolist()


def test_galaxy_quantities_of_stars_and_qsos_are_neither_drawn_nor_selected(state):
    # The model answers LOGM and LOGSFR for every object; the SFMS shows and selects galaxies only.
    frame = state.frame
    logm = state.store.column("LOGM")
    others = (frame["CLASS"] != "GALAXY").to_numpy(dtype=bool)
    assert others.any() and np.isfinite(logm[others]).any()          # the VAC holds the stars' answers
    assert np.isnan(state.plot_column("LOGM")[others]).all()
    assert np.isnan(state.plot_column("LOG_HALPHA_EW")[others]).all()  # a plot column follows its source
    assert np.array_equal(state.plot_column("MAG_i"), frame["MAG_i"].to_numpy(), equal_nan=True)  # for everyone
    state.select_region({"diagram": "SFMS", "x": "LOGM", "y": "LOGSFR", "x_range": [-100, 100],
                         "y_range": [-100, 100]})
    chosen = frame["CLASS"].to_numpy()[state.selection]
    assert len(chosen) > 0 and set(chosen) == {"GALAXY"}
    state.clear_selection()


def test_a_selection_of_unsorted_repeated_rows_is_each_row_once_in_order(state):
    state.select(np.array([7, 3, 3, 11, 0, 7]), "by hand")
    assert state.selection.tolist() == [0, 3, 7, 11] and int(state.mask.sum()) <= 4
    state.select(np.array([11, 2]), "more", mode="add")
    assert state.selection.tolist() == [0, 2, 3, 7, 11]
    state.clear_selection()
