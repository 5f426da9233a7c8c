"""Deal size: what won deals' amounts go with, and which open deals are small for their kind.

Drivers: an ordinary least squares regression (statsmodels) of log(won amount) on the merchant's vertical and
company size (each against its commonest level), log monthly volume, each product in the deal (against deals
without it), and the discount, over the won deals in the actor's scope. Each coefficient is read as a % effect
with its 95% interval (heteroskedasticity-robust, HC3): vertical, size and product as "x% larger than", volume per
doubling, discount per DISCOUNT_STEP points. The number of products gets its own fit, with the count in place of
the products. R² and n are shown, and the fit is judged out of time: fitted on the earlier (1 - TEST_SHARE) of
won deals by close date, its median absolute % error on the later ones against the naive baseline (every deal
at the training median). These are associations across deals (bigger merchants buy more products and bargain
harder), not what changing one thing would do. Below MIN_WON won deals: "not enough data".

Under-sized open deals: each open deal's amount against the won deals (of every team) like it: the same vertical
and company size, and a monthly volume between half and twice its own (VOLUME_BAND). The recommended range is
their p25-p75; a deal below p25 is under-sized by the gap to p25. Fewer than MIN_SIMILAR similar won deals:
"not enough similar deals".
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl
import statsmodels.api as sm

from flashdash.access import Actor
from flashdash.store import Store

MIN_WON = 50
MIN_LEVEL = 10  # a vertical or size with fewer won deals joins "other"; a product needs this many with and without
MIN_SIMILAR = 20
VOLUME_BAND = 2.0
DISCOUNT_STEP = 5.0
TEST_SHARE = 0.25
Z95 = 1.959963984540054
NOT_ENOUGH = "not enough data"
NOT_ENOUGH_SIMILAR = "not enough similar deals"
NO_CLEAR = "no clear association"
SIMILAR_RULE = (f"Similar won deals: the same vertical and company size, and a monthly volume between "
                f"1/{VOLUME_BAND:g} and {VOLUME_BAND:g} times the deal's own, won by any team.")
NOTE = ("How to read this: each effect compares won deals that differ in one respect and are alike in the others "
        "the model knows (vertical, company size, volume, products, discount). It is an association across past "
        "deals, not what changing one thing would do: merchants who take a bigger discount may be the ones who "
        "bargain for everything. The interval shows how sure each figure is; one that includes 0% is no clear "
        "association.")

_COEF_SCHEMA = {"factor": pl.String, "level": pl.String, "compared_with": pl.String, "n_with": pl.Int64,
                "effect_pct": pl.Float64, "ci_low_pct": pl.Float64, "ci_high_pct": pl.Float64,
                "p_value": pl.Float64, "verdict": pl.String, "wording": pl.String}


# ---------------------------------------------------------------- reads


def drivers(store: Store, actor: Actor, now: datetime) -> dict[str, Any]:
    """What won deals' amounts go with, over the actor's scope: {"coefficients" (frame: factor, level,
    compared_with, n_with, effect_pct with ci_low_pct / ci_high_pct, p_value, verdict, wording), "r2", "adj_r2",
    "n", "evaluation" (out of time against the training median), "not_recorded" (factors the store lacks),
    "note", "why" (set when there is not enough data)}."""
    won = store.frame("deal_size_won", now=now, **actor.scope_params())
    return analyse(won)


def undersized(store: Store, actor: Actor, now: datetime) -> pl.DataFrame:
    """Every open deal in the actor's scope against similar won deals (see SIMILAR_RULE): similar_won, the
    recommended range (recommended_low = p25, recommended_high = p75), the median, the gap to p25 (positive:
    under-sized), a status (under-sized / within range / above range / not enough similar deals) and a sentence;
    under-sized first, biggest gap first."""
    deals = store.frame("deal_size_similar", now=now, band=VOLUME_BAND, **actor.scope_params())
    return compare(deals)


# ---------------------------------------------------------------- under-sized (pure)


def compare(deals: pl.DataFrame) -> pl.DataFrame:
    """Rows of deal_size_similar with the status, gap and sentence (see undersized)."""
    enough = pl.col("similar_won") >= MIN_SIMILAR
    status = (pl.when(~enough).then(pl.lit(NOT_ENOUGH_SIMILAR))
              .when(pl.col("amount") < pl.col("p25")).then(pl.lit("under-sized"))
              .when(pl.col("amount") > pl.col("p75")).then(pl.lit("above range"))
              .otherwise(pl.lit("within range")))
    out = deals.with_columns(
        recommended_low=pl.when(enough).then(pl.col("p25")),
        recommended_high=pl.when(enough).then(pl.col("p75")),
        median_similar=pl.when(enough).then(pl.col("p50")),
        gap=pl.when(enough).then(pl.col("p25") - pl.col("amount")),
        status=status,
    ).drop("p25", "p50", "p75")
    out = out.with_columns(wording=pl.Series([_sentence(r) for r in out.iter_rows(named=True)], dtype=pl.String))
    order = pl.col("status").replace_strict({"under-sized": 0, "within range": 1, "above range": 2,
                                             NOT_ENOUGH_SIMILAR: 3}, return_dtype=pl.Int8)
    return out.sort([order, "gap", "opportunity_id"], descending=[False, True, False], nulls_last=True)


def _sentence(row: dict[str, Any]) -> str:
    if row["status"] == NOT_ENOUGH_SIMILAR:
        missing = [k.replace("_", " ") for k in ("vertical", "company_size", "monthly_volume") if row[k] is None]
        if missing:
            return f"Not enough similar deals: the deal's {' and '.join(missing)} is not recorded."
        n = row["similar_won"]
        alike = "no won deal is" if n == 0 else "1 won deal is" if n == 1 else f"{n} won deals are"
        return f"Not enough similar deals: {alike} like it (it takes {MIN_SIMILAR}); no range is recommended."
    span = f"${row['recommended_low']:,.0f}–${row['recommended_high']:,.0f}"
    base = f"{row['similar_won']} similar won deals, middle half {span}"
    if row["status"] == "under-sized":
        return f"Under-sized by ${row['gap']:,.0f}: ${row['amount']:,.0f} against {base}."
    if row["status"] == "above range":
        return f"Above the range: ${row['amount']:,.0f} against {base}."
    return f"Within the range: ${row['amount']:,.0f} against {base}."


# ---------------------------------------------------------------- drivers (pure)


def analyse(won: pl.DataFrame) -> dict[str, Any]:
    """The drivers result (see drivers) from rows of deal_size_won."""
    won = with_products(won)
    recorded = _recorded(won)
    out: dict[str, Any] = {"n": won.height, "note": NOTE, "similar_rule": SIMILAR_RULE,
                           "not_recorded": [f for f in ("products", "discount") if f not in recorded]}
    if won.height < MIN_WON:
        out.update(coefficients=pl.DataFrame(schema=_COEF_SCHEMA), r2=None, adj_r2=None, evaluation=None,
                   why=f"Not enough data: {won.height} won deals; the model needs {MIN_WON}.")
        return out
    design = Design.build(won, recorded, counts=False)
    fitted = _ols(np.log(won["amount"].to_numpy()), design.matrix)
    rows = [design.effect(i, fitted) for i in range(len(design.names))]
    if "products" in recorded:
        count_design = Design.build(won, recorded, counts=True)
        count_fit = _ols(np.log(won["amount"].to_numpy()), count_design.matrix)
        rows.append(count_design.effect(count_design.names.index("products_count"), count_fit))
    out.update(coefficients=pl.DataFrame(rows, schema=_COEF_SCHEMA), r2=float(fitted.rsquared),
               adj_r2=float(fitted.rsquared_adj), evaluation=evaluate(won, recorded), why=None)
    return out


def with_products(won: pl.DataFrame) -> pl.DataFrame:
    """Won deals with their products as a list and their count (null when the deal records none)."""
    products = (pl.col("products").str.to_lowercase().str.split(",")
                .list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element() != ""))
                .list.unique().list.sort())
    return won.with_columns(product_list=products).with_columns(products_count=pl.col("product_list").list.len())


def _recorded(won: pl.DataFrame) -> set[str]:
    out = set()
    if won["products"].is_not_null().sum() >= MIN_WON:
        out.add("products")
    if won["discount_pct"].is_not_null().sum() >= MIN_WON and won["discount_pct"].drop_nulls().n_unique() > 1:
        out.add("discount")
    return out


class Design:
    """The regression's design matrix with what each column means."""

    def __init__(self) -> None:
        self.columns: list[np.ndarray] = []
        self.names: list[str] = []
        self.kinds: list[tuple[str, str, str, int]] = []  # factor, level, compared with, deals with it

    def add(self, values: np.ndarray, name: str, factor: str, level: str, compared_with: str, n_with: int) -> None:
        self.columns.append(values.astype(float))
        self.names.append(name)
        self.kinds.append((factor, level, compared_with, n_with))

    @property
    def matrix(self) -> np.ndarray:
        n = len(self.columns[0]) if self.columns else 0
        return sm.add_constant(np.column_stack(self.columns) if self.columns else np.empty((n, 0)),
                               has_constant="add")

    @classmethod
    def build(cls, won: pl.DataFrame, recorded: set[str], counts: bool) -> Design:
        d = cls()
        for col, factor in (("vertical", "vertical"), ("company_size", "company size")):
            values = won[col].fill_null("unknown")
            counts_by = values.value_counts(sort=True)
            keep = [v for v, n in counts_by.iter_rows() if n >= MIN_LEVEL]
            values = pl.select(pl.when(values.is_in(keep)).then(values).otherwise(pl.lit("other"))).to_series()
            levels = [v for v, _ in values.value_counts(sort=True).iter_rows()]
            for level in sorted(levels[1:]):
                flag = (values == level).to_numpy()
                d.add(flag, f"{col}={level}", factor, level, levels[0], int(flag.sum()))
        volume = won["monthly_volume"].cast(pl.Float64).to_numpy()
        known = np.isfinite(volume) & (volume > 0)
        logv = np.where(known, np.log(np.where(known, volume, 1.0)), np.nan)
        if known.sum() > 1:
            fill = float(np.nanmean(logv))
            d.add(np.where(known, logv, fill), "log_monthly_volume", "monthly volume", "per doubling",
                  "half the volume", int(known.sum()))
            if (~known).any():
                d.add(~known, "monthly_volume_missing", "monthly volume", "not recorded", "recorded",
                      int((~known).sum()))
        if "products" in recorded:
            if counts:
                d.add(won["products_count"].fill_null(0).to_numpy(), "products_count", "products",
                      "per additional product", "one product fewer", int(won["products_count"].is_not_null().sum()))
            else:
                for product in sorted(set(won["product_list"].explode().drop_nulls().to_list())):
                    flag = won["product_list"].list.contains(product).fill_null(False).to_numpy()
                    if MIN_LEVEL <= flag.sum() <= len(flag) - MIN_LEVEL:
                        d.add(flag, f"product={product}", "product", product, f"deals without {product}",
                              int(flag.sum()))
        if "discount" in recorded:
            discount = won["discount_pct"].cast(pl.Float64)
            d.add(discount.fill_null(discount.mean()).to_numpy(), "discount_pct", "discount",
                  f"per {DISCOUNT_STEP:g} points", f"{DISCOUNT_STEP:g} points less", int(discount.is_not_null().sum()))
        keep = [i for i, c in enumerate(d.columns) if np.ptp(c) > 0]
        d.columns = [d.columns[i] for i in keep]
        d.names = [d.names[i] for i in keep]
        d.kinds = [d.kinds[i] for i in keep]
        return d

    def effect(self, i: int, fitted: Any) -> dict[str, Any]:
        """Column i's coefficient as a % effect on the amount with its 95% interval and a sentence."""
        factor, level, compared_with, n_with = self.kinds[i]
        name = self.names[i]
        beta, se, p = float(fitted.params[i + 1]), float(fitted.bse[i + 1]), float(fitted.pvalues[i + 1])
        scale = math.log(2) if name == "log_monthly_volume" else DISCOUNT_STEP if name == "discount_pct" else 1.0
        pct = [100 * (math.exp(scale * b) - 1) for b in (beta, beta - Z95 * se, beta + Z95 * se)]
        effect, low, high = pct
        verdict = NO_CLEAR if low <= 0 <= high else ("associated with larger deals" if low > 0 else
                                                     "associated with smaller deals")
        return {"factor": factor, "level": level, "compared_with": compared_with, "n_with": n_with,
                "effect_pct": effect, "ci_low_pct": low, "ci_high_pct": high, "p_value": p, "verdict": verdict,
                "wording": _wording(factor, level, compared_with, effect, low, high, p, fitted.nobs)}


def _wording(factor: str, level: str, compared_with: str, effect: float, low: float, high: float, p: float,
             n: float) -> str:
    subject = {"vertical": f"{level} merchants (against {compared_with})",
               "company size": f"companies of {level} people (against {compared_with})",
               "monthly volume": "twice the monthly volume" if level == "per doubling" else
               "a monthly volume that is not recorded",
               "product": f"deals that include {level} (against {compared_with})",
               "products": "each additional product",
               "discount": f"each {DISCOUNT_STEP:g} more points of discount"}[factor]
    figures = f"{effect:+.0f}%, 95% CI {low:+.0f}% to {high:+.0f}%, {'p < 0.001' if p < 0.001 else f'p = {p:.3f}'}, " \
              f"n = {int(n):,} won deals"
    if low <= 0 <= high:
        return f"No clear association between {subject} and the deal's amount ({figures})."
    return (f"{subject[0].upper()}{subject[1:]} is associated with "
            f"{'larger' if low > 0 else 'smaller'} won amounts, other things in the model equal ({figures}).")


def _ols(y: np.ndarray, x: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.OLS(y, x).fit(cov_type="HC3")


def evaluate(won: pl.DataFrame, recorded: set[str]) -> dict[str, Any]:
    """Out of time: fit on the earlier won deals, predict the later ones; median absolute % error of the model
    against the baseline (every deal at the training median)."""
    ordered = won.sort("closed_at")
    cut = int(ordered.height * (1 - TEST_SHARE))
    train, test = ordered.head(cut), ordered.tail(ordered.height - cut)
    if train.height < MIN_WON or test.height < MIN_LEVEL:
        return {"beats_baseline": None, "why": f"Not enough data to judge it out of time: {train.height} earlier "
                f"and {test.height} later won deals (it takes {MIN_WON} and {MIN_LEVEL})."}
    both = pl.concat([train, test], how="vertical_relaxed")
    design = Design.build(both, recorded, counts=False)  # the same columns for both periods
    x = design.matrix
    fitted = _ols(np.log(train["amount"].to_numpy()), x[:cut])
    predicted = np.exp(x[cut:] @ fitted.params)
    actual = test["amount"].to_numpy()
    model_err = float(np.median(np.abs(predicted - actual) / actual))
    base_err = float(np.median(np.abs(float(train["amount"].median()) - actual) / actual))
    beats = model_err < base_err
    return {"train_deals": train.height, "test_deals": test.height, "test_from": test["closed_at"].min(),
            "test_to": test["closed_at"].max(), "median_abs_pct_error": model_err,
            "baseline_median_abs_pct_error": base_err, "beats_baseline": beats,
            "why": (f"On the {test.height} latest won deals the model's typical error is {model_err:.0%} of the "
                    f"amount, against {base_err:.0%} for the training median"
                    + ("." if beats else "; it does not beat that baseline, so read its effects with care."))}
