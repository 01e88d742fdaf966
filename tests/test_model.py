"""The OJALA model: shapes, masking rules, padding, losses, MMD, save/load, overfitting, inference."""
import numpy as np
import pandas as pd
import pytest
import torch

from ojala_core.model.config import MODEL_PRESETS
from ojala_core.model.expand import expand_vocabulary
from ojala_core.model.inference import predict
from ojala_core.model.packing import pack_tokens
from ojala_core.model.pretrained import Ojala
from ojala_core.model.tokenizer import Normalisation
from ojala_core.train.losses import gaussian_nll, weighted_mmd2
from ojala_core.train.masking import inverse_frequency_weights, sample_masks
from ojala_core.train.sampling import object_weights
from ojala_core.vocabulary import DEFAULT_VOCABULARY as V
from ojala_core.vocabulary import Token


def _table(n=64, seed=0):
    """A small synthetic token table: NB ratios, magnitudes, a few labels, classes."""
    rng = np.random.default_rng(seed)
    frame = {b: rng.uniform(0.5, 1.5, n) for b in V.narrow_bands}
    frame.update({f"{b}_ERR": np.full(n, 0.05) for b in V.narrow_bands})
    frame["MAG_i"] = rng.uniform(17, 21, n)
    frame["MAG_R"] = frame["MAG_i"] + 0.3
    frame["SPECTYPE"] = rng.choice(["GALAXY", "STAR", "QSO"], n)
    frame["MORPHTYPE"] = rng.choice(["PSF", "EXP"], n)
    gal = frame["SPECTYPE"] == "GALAXY"
    frame["Z_GAL"] = np.where(gal, rng.uniform(0.05, 1.0, n), np.nan)
    frame["Z_GAL_ERR"] = np.where(gal, 1e-4, np.nan)
    frame["LOGM"] = np.where(gal, rng.uniform(9, 11.5, n), np.nan)
    frame["TEFF"] = np.where(frame["SPECTYPE"] == "STAR", rng.uniform(3500, 9000, n), np.nan)
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    frame = _table()
    return Ojala(MODEL_PRESETS["tiny"], V, Normalisation.fit(frame, V)).eval(), frame


def test_forward_shapes_and_embedding(tiny):
    model, frame = tiny
    tokens = model.tokenizer.encode(frame)
    ids, v, e, valid = pack_tokens(tokens.present & ~model.net.is_label, tokens.values, tokens.errors)
    q = torch.tensor([V.index("Z_GAL"), V.index("SPECTYPE"), V.index("J0660")])[None].expand(len(frame), -1)
    out = model.net(ids, v, e, valid, q)
    assert out["mean"].shape == (len(frame), 3) and out["log_variance"].shape == (len(frame), 3)
    assert out["embedding"].shape == (len(frame), model.config.d_model)
    probs = torch.softmax(model.net.class_logits(out["logits"], q)[:, 1], -1)
    assert torch.allclose(probs[:, :3].sum(-1), torch.ones(len(frame)))   # SPECTYPE has 3 categories
    assert torch.all(probs[:, 3:] == 0)


def test_categories_are_embedded_not_multiplied(tiny):
    model, _ = tiny
    # Different categories give different, non-proportional embeddings.
    ids = torch.tensor([[V.index("MORPHTYPE")]] * 3)
    values = torch.tensor([[0.0], [1.0], [2.0]])
    x, _ = model.net.encode(ids, values, torch.zeros_like(values), torch.ones_like(values, dtype=torch.bool))
    assert not torch.allclose(x[0], x[1]) and not torch.allclose(x[1] * 2, x[2])


def test_masking_rules_hold_for_every_object():
    g = torch.Generator().manual_seed(1)
    present = torch.rand((500, len(V)), generator=g) < 0.8
    is_label = torch.tensor([t.is_label for t in V.tokens])
    weights = inverse_frequency_weights(present)
    context, targets, valid = sample_masks(present, is_label, weights, generator=g)
    for i in range(len(present)):
        t = targets[i][valid[i]]
        assert present[i, t].all()                              # targets are observed
        assert not context[i, t].any()                          # a target is never in its context
        assert context[i].sum() >= 5                            # at least 5 real context tokens
        assert (context[i] & ~present[i]).sum() == 0            # no absent token in the context
        if is_label[t].any():                                   # every target, not only the first
            assert not (context[i] & is_label).any()


def test_minimum_context_holds_with_few_tokens():
    is_label = torch.tensor([t.is_label for t in V.tokens])
    present = torch.zeros((10, len(V)), dtype=torch.bool)
    present[:, :7] = True                                        # 7 bands only
    present[:, V.index("Z_GAL")] = True
    context, targets, valid = sample_masks(present, is_label, torch.ones(len(V)))
    assert (valid.sum(1) <= 2).all()
    assert (context.sum(1) >= 5).all()


def test_label_mode_asks_every_present_label_from_observations_and_dropout_hides_morphology():
    is_label = torch.tensor([t.is_label for t in V.tokens])
    g = torch.Generator().manual_seed(1)
    present = torch.rand((400, len(V)), generator=g) < 0.6
    droppable = torch.zeros(len(V), dtype=torch.bool)
    droppable[[V.index("MORPHTYPE"), *(V.index(t) for t in V.legacy_magnitudes.values())]] = True
    context, targets, valid = sample_masks(present, is_label, torch.ones(len(V)), generator=g, label_fraction=0.6,
                                           droppable=droppable, drop_fraction=0.5)
    asked = torch.zeros_like(present)
    asked.scatter_(1, targets, valid)
    all_labels = (asked & is_label).sum(1) == (present & is_label).sum(1)
    label_mode = all_labels & ((present & is_label).sum(1) > 5)       # more labels than the game's 5 targets
    assert targets.shape[1] > 5 and 0.4 < label_mode.float().mean() < 0.7
    for i in torch.nonzero(label_mode).flatten().tolist():
        assert not (asked[i] & ~is_label).any()                       # labels only, every one of them
        assert not (context[i] & is_label).any() and context[i].sum() >= 5
    for i in range(len(present)):                                      # the game's rules hold for every object
        assert not (context[i] & asked[i]).any() and not (context[i] & ~present[i]).any()
        if (asked[i] & is_label).any():
            assert not (context[i] & is_label).any()
    hidden = ~(context & droppable).any(1) & (present & droppable & ~asked).any(1)
    assert 0.4 < hidden.float().mean() < 0.8                          # dropout on about half, plus chance
    # switched off, the recipe replays the paper's game bit for bit
    a = sample_masks(present, is_label, torch.ones(len(V)), generator=torch.Generator().manual_seed(3))
    b = sample_masks(present, is_label, torch.ones(len(V)), generator=torch.Generator().manual_seed(3),
                     label_fraction=0.0, droppable=droppable, drop_fraction=0.0)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_padding_is_never_attended(tiny):
    model, frame = tiny
    tokens = model.tokenizer.encode(frame.head(2))
    mask = tokens.present & ~model.net.is_label
    mask[0, 20:] = False                                         # object 0 is shorter: padded
    ids, v, e, valid = pack_tokens(mask, tokens.values, tokens.errors)
    q = torch.tensor([[V.index("Z_GAL"), V.index("J0500")]] * 2)
    out = model.net(ids, v, e, valid, q)
    garbage_v = torch.where(valid, v, torch.full_like(v, 1e3))
    garbage_ids = torch.where(valid, ids, torch.full_like(ids, V.index("MAG_W2")))
    out2 = model.net(garbage_ids, garbage_v, e, valid, q)
    assert torch.allclose(out["mean"], out2["mean"], atol=1e-6)
    alone = pack_tokens(mask[:1], tokens.values[:1], tokens.errors[:1])
    out3 = model.net(*alone, q[:1])
    assert torch.allclose(out["mean"][0], out3["mean"][0], atol=1e-5)


def test_gaussian_nll_matches_hand_computation():
    # residual 2, predicted variance 3 + label variance 1 -> 0.5 (4/4 + log 4)
    value = gaussian_nll(torch.tensor(3.0), torch.log(torch.tensor(3.0)), torch.tensor(1.0), torch.tensor(1.0))
    assert value.item() == pytest.approx(0.5 * (1.0 + np.log(4.0)))
    # redshift: residual and σ divided by (1+z)/std
    scaled = gaussian_nll(torch.tensor(3.0), torch.log(torch.tensor(3.0)), torch.tensor(1.0), torch.tensor(1.0),
                          scale=torch.tensor(2.0))
    assert scaled.item() == pytest.approx(0.5 * (1.0 + np.log(1.0)))


def test_mmd_of_identical_samples_is_zero_and_of_shifted_samples_positive():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 8, generator=g)
    assert weighted_mmd2(x, x.clone()).item() == pytest.approx(0.0, abs=1e-6)
    y = torch.randn(200, 8, generator=g)
    assert weighted_mmd2(x, y).item() < 0.05
    assert weighted_mmd2(x, y + 2.0).item() > 0.2


def test_save_load_round_trip_gives_identical_outputs(tiny, tmp_path):
    model, frame = tiny
    model.save_pretrained(tmp_path / "m")
    again = Ojala.from_pretrained(tmp_path / "m", expected_vocabulary=V)
    a, ea = predict(model, frame)
    b, eb = predict(again, frame)
    pd.testing.assert_frame_equal(a, b)
    assert np.array_equal(ea, eb)


def test_weights_for_another_vocabulary_are_refused(tiny, tmp_path):
    model, _ = tiny
    model.save_pretrained(tmp_path / "m")
    other = V.with_tokens([Token("J1007", "nb_flux")])
    with pytest.raises(ValueError, match="another vocabulary.*J1007"):
        Ojala.from_pretrained(tmp_path / "m", expected_vocabulary=other)


def test_tiny_model_overfits_a_small_batch():
    torch.manual_seed(0)
    frame = _table(32, seed=3)
    model = Ojala(MODEL_PRESETS["tiny"], V, Normalisation.fit(frame, V))
    tokens = model.tokenizer.encode(frame)
    query = torch.tensor([V.index("Z_GAL"), V.index("SPECTYPE")])[None].expand(32, -1)
    mask = tokens.present & ~model.net.is_label
    packed = pack_tokens(mask, tokens.values, tokens.errors)
    target = tokens.values[:, query[0]]
    has_z = tokens.present[:, V.index("Z_GAL")]
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for step in range(300):
        out = model.net(*packed, query)
        mse = ((out["mean"][:, 0] - target[:, 0]) ** 2)[has_z].mean()
        ce = torch.nn.functional.cross_entropy(model.net.class_logits(out["logits"], query)[:, 1], target[:, 1].long())
        loss = mse + ce
        if step == 0:
            first = (mse.item(), ce.item())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert mse.item() < 0.05 * first[0]
    assert ce.item() < 0.1 * first[1]


def test_predict_is_deterministic_and_missing_objects_stay_missing(tiny):
    model, frame = tiny
    empty = frame.head(3).copy()
    empty.loc[:, [c for c in empty.columns if c not in ("SPECTYPE",)]] = np.nan
    both = pd.concat([frame.head(5), empty], ignore_index=True)
    a, emb = predict(model, both, batch_size=4)
    b, _ = predict(model, both, batch_size=7)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5)
    assert a.loc[5:, "Z_GAL"].isna().all() and np.isnan(emb[5:]).all()
    assert (a.loc[:4, "Z_GAL_ERR"] > 0).all()
    assert set(a.loc[:4, "SPECTYPE"]) <= {"GALAXY", "STAR", "QSO"}


def test_expanding_the_vocabulary_keeps_trained_outputs(tiny):
    model, frame = tiny
    new = [Token("J1007", "nb_flux", filter=None), Token("LOG_MBH", "regression", is_label=True)]
    bigger = expand_vocabulary(model, new)
    assert len(bigger.vocabulary) == len(V) + 2
    a, _ = predict(model, frame)
    b, _ = predict(bigger, frame)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5, atol=1e-6)
    extra = frame.head(4).assign(J1007=1.0)
    c, _ = predict(bigger, extra, targets=["LOG_MBH"])
    assert c["LOG_MBH"].notna().all()


def test_object_weights_give_each_class_a_third():
    frame = _table(300)
    qso = frame["SPECTYPE"] == "QSO"
    frame["Z_QSO"] = np.where(qso, np.random.default_rng(0).uniform(0.5, 3.5, 300), np.nan)
    for col in ("LOGSFR", "HALPHA_6562_EW", "HBETA_4861_EW", "OIII_5007_EW", "NII_6584_EW", "LOGG", "FEH", "MAG_G",
                "MAG_Z"):
        frame[col] = np.random.default_rng(1).uniform(1, 2, 300)
    w = object_weights(frame)
    for cls in ("GALAXY", "STAR", "QSO"):
        assert w[frame["SPECTYPE"] == cls].sum() == pytest.approx(1 / 3)


def test_a_requested_band_is_hidden_from_its_own_context(tiny):
    model, frame = tiny
    with_band, _ = predict(model, frame.head(8), targets=["J0660"])
    without_band, _ = predict(model, frame.head(8).drop(columns=["J0660", "J0660_ERR"]), targets=["J0660"])
    pd.testing.assert_frame_equal(with_band.drop(columns="N_CONTEXT"), without_band.drop(columns="N_CONTEXT"))


def test_catalogue_sentinel_magnitudes_are_missing_tokens(tiny):
    model, frame = tiny
    sentinel = frame.head(3).assign(MAG_R=[99.0, -99.0, 20.0])
    tokens = model.tokenizer.encode(sentinel)
    assert tokens.present[:, V.index("MAG_R")].tolist() == [False, False, True]


def test_mmd_takes_only_synthetic_objects_whose_context_holds_no_label(monkeypatch):
    from ojala_core.train import module

    is_label = torch.tensor([t.is_label for t in V.tokens])
    g = torch.Generator().manual_seed(2)
    present = torch.rand((300, len(V)), generator=g) < 0.7
    context, _, _ = sample_masks(present, is_label, torch.ones(len(V)), generator=g, label_fraction=0.5)
    rows = module.observed_only_rows(context, is_label)
    assert 0 < len(rows) < len(context)
    assert not (context[rows] & is_label).any()                        # none of the MMD's contexts has a label
    others = torch.ones(len(context), dtype=torch.bool)
    others[rows] = False
    assert (context[others] & is_label).any(1).all()                   # every row left out has one
    labelled = context | is_label[None, :]
    assert module.observed_only_rows(labelled, is_label) is None       # all labelled: no DA term at all
