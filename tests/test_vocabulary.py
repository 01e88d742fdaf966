"""The vocabulary table: the one source of truth for tokens."""
import numpy as np
import pytest

from ojala_core.vocabulary import DEFAULT_VOCABULARY as V
from ojala_core.vocabulary import TRANSFORMS, TRAYS, Token, Vocabulary


def test_every_narrow_band_is_in_exactly_one_tray_and_trays_hold_all_54():
    members = [b for bands in TRAYS.values() for b in bands]
    assert len(members) == len(set(members)) == 54
    assert sorted(members) == sorted(V.narrow_bands)


def test_t1_and_t2_are_the_papers_trays():
    assert V.tray("T1")[0] == "J0410" and len(V.tray("T1")) == 13
    assert "J0660" in V.tray("T2") and len(V.tray("T2")) == 14


def test_tokens_know_their_kind_wavelength_and_flags():
    assert V["J0660"].narrow and V["J0660"].tray == "T2"
    assert 6550 < V["J0660"].pivot_wavelength < 6650
    assert not V["MAG_W1"].narrow and V["MAG_W1"].pivot_wavelength > 30000
    assert V["SPECTYPE"].categories == ("GALAXY", "STAR", "QSO")
    assert V["Z_GAL"].is_label and not V["MORPHTYPE"].is_label
    assert V["TEFF"].applies_to == ("STAR",) and V["TEFF"].unit == "K"
    assert V["HALPHA_6562_EW"].transform == "asinh_ew"


def test_unknown_token_gives_a_clear_error():
    with pytest.raises(KeyError, match="not in the vocabulary"):
        V["J9999"]


def test_records_round_trip_and_extension_keeps_ids():
    again = Vocabulary.from_records(V.to_records())
    assert again.tokens == V.tokens
    bigger = V.with_tokens([Token("LOG_MBH", "regression", "dex(Msun)", applies_to=("QSO",), is_label=True)])
    assert bigger.index("J0378") == V.index("J0378") and bigger.index("LOG_MBH") == len(V)
    with pytest.raises(ValueError, match="duplicate"):
        V.with_tokens([Token("J0378", "nb_flux")])


def test_ew_transform_is_invertible_and_handles_absorption():
    forward, inverse = TRANSFORMS["asinh_ew"]
    ew = np.array([-5.0, 0.0, 3.0, 150.0])
    assert np.allclose(inverse(forward(ew)), ew)
    assert forward(np.array([-5.0]))[0] < 0
