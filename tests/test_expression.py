"""The explorer's filter grammar: what it keeps, what it refuses, and that user text never
reaches Python's evaluator."""
import numpy as np
import pandas as pd
import pytest

from ojala_core.vac.expression import Expression, ExpressionError

FRAME = pd.DataFrame({
    "Z_GAL": np.array([0.1, 0.6, 0.9, np.nan, 0.55], dtype=np.float32),
    "P_QSO": np.array([0.0, 0.05, 0.5, 0.01, 0.2], dtype=np.float32),
    "MAG_i": np.array([19.0, 21.5, 22.0, 18.0, 20.0], dtype=np.float32),
    "CLASS": pd.Categorical(["GALAXY", "GALAXY", "QSO", "STAR", None]),
})


def keep(text):
    return np.flatnonzero(Expression(text, FRAME.columns).mask(FRAME)).tolist()


@pytest.mark.parametrize("text, rows", [
    ("Z_GAL > 0.5 and P_QSO < 0.1", [1]),
    ("Z_GAL > 0.5 AND P_QSO < 0.1", [1]),
    ("Z_GAL > 0.5 && P_QSO < 0.1", [1]),
    ("Z_GAL > 0.5 or MAG_i < 18.5", [1, 2, 3, 4]),
    ("not Z_GAL > 0.5", [0, 3]),                      # NaN > 0.5 is false, so not(...) keeps it
    ("!(Z_GAL > 0.5)", [0, 3]),
    ("Z_GAL != 0.1", [1, 2, 4]),                      # NaN is never kept by a comparison
    ("CLASS == 'QSO'", [2]),
    ('CLASS != "GALAXY"', [2, 3]),                  # an object without a class is never kept
    ("MAG_i - 2 * Z_GAL >= 20.1", [1, 2]),
    ("(MAG_i + 1) / 2 > 10.6", [1, 2]),
    ("-Z_GAL < -0.58", [1, 2]),
    ("abs(Z_GAL - 0.6) < 0.06", [1, 4]),
    ("isnan(Z_GAL)", [3]),
    ("not isnan(Z_GAL) and log10(MAG_i) > 1.31", [1, 2]),
    ("z_gal > 0.8", [2]),                             # a unique case-insensitive match
    ("1.5e-1 < Z_GAL and Z_GAL < .7", [1, 4]),
    ("1 < 2", [0, 1, 2, 3, 4]),
    ("P_QSO < 0.1 and (Z_GAL < 0.2 or MAG_i > 21)", [0, 1]),
    ("P_QSO < 0.1 or Z_GAL < 0.2 and MAG_i > 21", [0, 1, 3]),   # 'and' binds tighter than 'or'
])
def test_expression_keeps_the_right_rows(text, rows):
    assert keep(text) == rows


@pytest.mark.parametrize("text, message", [
    ("", "empty expression"),
    ("Z_GAL >", "expected a column name, a number or '(' at position 8, found the end"),
    ("Z_GALX > 0.5", "unknown column 'Z_GALX' at position 1 (did you mean Z_GAL?)"),
    ("Z_GAL > 0.5 and", "expected a column name, a number or '('"),
    ("(Z_GAL > 0.5", "expected ')'"),
    ("Z_GAL > 0.5 P_QSO", "expected 'and', 'or' or an operator at position 13, found 'P_QSO'"),
    ("Z_GAL $ 2", "unexpected character '$' at position 7"),
    ("Z_GAL", "is a value, not a condition"),
    ("Z_GAL and P_QSO < 1", "'and', 'or' and 'not' join conditions; column Z_GAL is a value"),
    ("CLASS > 'QSO'", "text can only be compared with '==' or '!='"),
    ("CLASS == 1", "cannot compare text with a number"),
    ("CLASS + 1 > 0", "column CLASS is text; arithmetic needs numbers"),
])
def test_a_malformed_expression_gets_one_clear_message(text, message):
    with pytest.raises(ExpressionError) as error:
        Expression(text, FRAME.columns).mask(FRAME)
    assert message in str(error.value)


@pytest.mark.parametrize("text", [
    "__import__('os').system('touch /tmp/ojala-pwned')",
    "Z_GAL.__class__ > 0",
    "@Z_GAL > 0",
    "Z_GAL > 0; import os",
    "`Z_GAL` > 0",
    "[c for c in Z_GAL]",
    "Z_GAL ** 2 > 0",
])
def test_python_never_runs_user_text(text, tmp_path, monkeypatch):
    """Code that pandas.eval or eval would run is a parse error here."""
    def forbidden(*args, **kwargs):
        raise AssertionError("user text reached a Python evaluator")
    monkeypatch.setattr(pd, "eval", forbidden)
    monkeypatch.setattr(pd.DataFrame, "query", forbidden)
    monkeypatch.setattr(pd.DataFrame, "eval", forbidden)
    with pytest.raises(ExpressionError):
        Expression(text, FRAME.columns).mask(FRAME)


def test_the_expression_names_the_columns_it_reads():
    expression = Expression("Z_GAL > 0.5 and (p_qso < 0.1 or Z_GAL < 0.1)", FRAME.columns)
    assert expression.columns == ["Z_GAL", "P_QSO"]
