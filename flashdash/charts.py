"""Altair chart builders: a polars frame in, a chart out. Selections are named so pages can read them."""

from __future__ import annotations

import altair as alt
import polars as pl

ACCENT = "#4f46e5"
MUTED = "#c7d2fe"


def _data(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    # Altair needs a materialized frame, and vega-lite cannot read Decimal.
    df = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    return df.with_columns([pl.col(c).cast(pl.Float64) for c, t in df.schema.items() if isinstance(t, pl.Decimal)])


def bar_select(frame: pl.DataFrame, category: str, value: str, *, param: str, title: str = "",
               value_title: str | None = None, fmt: str = ",.0f", horizontal: bool = True,
               sort: str = "-x") -> alt.Chart:
    """Bars that can be clicked: the selection `param` holds the clicked `category` values."""
    select = alt.selection_point(name=param, fields=[category])
    enc_cat = alt.Y(f"{category}:N", sort=sort, title=None) if horizontal else alt.X(f"{category}:N", sort=sort,
                                                                                      title=None)
    enc_val = (alt.X if horizontal else alt.Y)(f"{value}:Q", title=value_title or value, axis=alt.Axis(format=fmt))
    return (
        alt.Chart(_data(frame), title=title)
        .mark_bar(cornerRadiusEnd=3)
        .encode(enc_cat, enc_val,
                color=alt.condition(select, alt.value(ACCENT), alt.value(MUTED)),
                tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=fmt)])
        .add_params(select)
    )


def trend(frame: pl.DataFrame, x: str, y: str, *, title: str = "", color: str | None = None,
          y_title: str | None = None, fmt: str = ",.0f", area: bool = False) -> alt.Chart:
    """A time series line (one per `color` value)."""
    mark = alt.Chart(_data(frame), title=title).mark_area(opacity=0.6) if area else \
        alt.Chart(_data(frame), title=title).mark_line(point=True)
    enc = {"x": alt.X(f"{x}:T", title=None), "y": alt.Y(f"{y}:Q", title=y_title or y, axis=alt.Axis(format=fmt)),
           "tooltip": [alt.Tooltip(f"{x}:T"), alt.Tooltip(f"{y}:Q", format=fmt)]}
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=None)
        enc["tooltip"].append(alt.Tooltip(f"{color}:N"))
    return mark.encode(**enc)


def stacked(frame: pl.DataFrame, x: str, y: str, color: str, *, param: str | None = None, title: str = "",
            normalize: bool = False, fmt: str = ",.0f", x_type: str = "N", sort: list[str] | None = None) -> alt.Chart:
    """Stacked bars of `y` by `x`, split by `color`; clicking a segment selects its `color` value."""
    chart = alt.Chart(_data(frame), title=title).mark_bar()
    enc = {
        "x": alt.X(f"{x}:{x_type}", title=None, sort=None if x_type == "T" else "-y"),
        "y": alt.Y(f"{y}:Q", stack="normalize" if normalize else "zero", title=None,
                   axis=alt.Axis(format=".0%" if normalize else fmt)),
        "color": alt.Color(f"{color}:N", title=None, sort=sort),
        "tooltip": [alt.Tooltip(f"{x}:{x_type}"), alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{y}:Q", format=fmt)],
    }
    if param:
        select = alt.selection_point(name=param, fields=[color])
        enc["opacity"] = alt.condition(select, alt.value(1.0), alt.value(0.35))
        return chart.encode(**enc).add_params(select)
    return chart.encode(**enc)


def funnel(frame: pl.DataFrame, stage: str, count: str, *, param: str | None = None, title: str = "") -> alt.Chart:
    """Horizontal funnel bars in stage order, labelled with counts."""
    order = frame[stage].to_list()
    base = alt.Chart(_data(frame), title=title).encode(
        y=alt.Y(f"{stage}:N", sort=order, title=None),
        x=alt.X(f"{count}:Q", title=None, axis=alt.Axis(format=",.0f")),
        tooltip=[alt.Tooltip(f"{c}:Q" if frame.schema[c].is_numeric() else f"{c}:N") for c in frame.columns],
    )
    bars = base.mark_bar(color=ACCENT, cornerRadiusEnd=3)
    if param:
        select = alt.selection_point(name=param, fields=[stage])
        bars = bars.encode(color=alt.condition(select, alt.value(ACCENT), alt.value(MUTED))).add_params(select)
    labels = base.mark_text(align="left", dx=4).encode(text=alt.Text(f"{count}:Q", format=",.0f"))
    return bars + labels


def calibration(frame: pl.DataFrame, *, title: str = "Calibration") -> alt.Chart:
    """Predicted vs observed rate per bin, with the diagonal of perfect calibration."""
    diag = alt.Chart(pl.DataFrame({"p": [0.0, 1.0]})).mark_line(strokeDash=[4, 4], color="gray").encode(
        x=alt.X("p:Q", title="Predicted probability"), y=alt.Y("p:Q", title="Observed rate"))
    pts = alt.Chart(_data(frame), title=title).mark_line(point=True, color=ACCENT).encode(
        x="predicted:Q", y="observed:Q",
        tooltip=[alt.Tooltip("predicted:Q", format=".2f"), alt.Tooltip("observed:Q", format=".2f"),
                 alt.Tooltip("count:Q", format=",.0f")])
    return diag + pts


def histogram(frame: pl.DataFrame, value: str, *, title: str = "", bins: int = 20, fmt: str = ".0%") -> alt.Chart:
    return alt.Chart(_data(frame), title=title).mark_bar(color=ACCENT).encode(
        x=alt.X(f"{value}:Q", bin=alt.Bin(maxbins=bins), title=None, axis=alt.Axis(format=fmt)),
        y=alt.Y("count():Q", title="Leads"))


def heatmap(frame: pl.DataFrame, x: str, y: str, value: str, *, title: str = "", fmt: str = ".0%") -> alt.Chart:
    base = alt.Chart(_data(frame), title=title).encode(x=alt.X(f"{x}:N", title=None), y=alt.Y(f"{y}:N", title=None))
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues"), legend=None),
                                    tooltip=[f"{x}:N", f"{y}:N", alt.Tooltip(f"{value}:Q", format=fmt)])
    text = base.mark_text(fontSize=11).encode(text=alt.Text(f"{value}:Q", format=fmt))
    return cells + text
