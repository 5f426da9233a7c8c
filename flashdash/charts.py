"""Altair chart builders: a polars frame in, a chart out. Selections are named so pages can read them."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from flashdash import interest, submissions

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


# ---------------------------------------------------------------- interest levels


def rows_height(rows: int) -> int:
    # Streamlit fits title and axes inside the height, so leave room for them beyond the bars.
    return 90 + 28 * rows


def _level_color(title: str | None = None) -> alt.Color:
    return alt.Color("level:N", title=title, sort=list(interest.LEVELS),
                     scale=alt.Scale(domain=list(interest.LEVELS), range=list(interest.LEVEL_COLORS)))


def interest_shares(distribution: pl.DataFrame, dimension: str, *, param: str, title: str = "") -> alt.Chart:
    """100%-stacked bars of interest level per segment (hottest first); clicking a level selects it."""
    part = distribution.filter(pl.col("dimension") == dimension)
    order = interest.segment_order(distribution, dimension)
    select = alt.selection_point(name=param, fields=["level"])
    return (
        alt.Chart(part, title=title).mark_bar().encode(
            y=alt.Y("segment:N", sort=order, title=None),
            x=alt.X("leads:Q", stack="normalize", title=None, axis=alt.Axis(format=".0%")),
            color=_level_color("Interest"),
            order=alt.Order("rank:Q"),
            opacity=alt.condition(select, alt.value(1.0), alt.value(0.3)),
            tooltip=[alt.Tooltip("segment:N", title=dimension), alt.Tooltip("level:N"),
                     alt.Tooltip("leads:Q", format=",.0f"), alt.Tooltip("share:Q", format=".1%")],
        ).add_params(select).properties(height=rows_height(len(order)))
    )


def interest_trend(trend: pl.DataFrame, bucket: str, *, normalize: bool, title: str = "") -> alt.Chart:
    """Leads per period by level: shares (normalize) or counts, stacked in level order."""
    fmt = "%b %Y" if bucket == "month" else "%b %d"
    return alt.Chart(trend, title=title).mark_area(opacity=0.85).encode(
        x=alt.X("period:T", title=None, axis=alt.Axis(format=fmt, labelOverlap=True)),
        y=alt.Y("leads:Q", stack="normalize" if normalize else "zero", title=None,
                axis=alt.Axis(format=".0%" if normalize else ",.0f")),
        color=_level_color("Interest"),
        order=alt.Order("rank:Q"),
        tooltip=[alt.Tooltip("period:T", title="from"), alt.Tooltip("level:N"),
                 alt.Tooltip("leads:Q", format=",.0f"), alt.Tooltip("share:Q", format=".1%")],
    )


def rate_with_intervals(frame: pl.DataFrame, category: str, *, title: str = "", by_level: bool = False,
                     sort: list[str] | None = None) -> alt.LayerChart:
    """Won-so-far rate per category as bars with 95% interval error bars and `won / leads` labels."""
    data = frame.filter(pl.col("leads") > 0).with_columns(
        label=pl.concat_str([pl.col("won").cast(pl.String), pl.lit(" / "), pl.col("leads").cast(pl.String)]))
    horizontal = not by_level
    cat = (alt.Y(f"{category}:N", sort=sort or data[category].to_list(), title=None) if horizontal
           else alt.X(f"{category}:N", sort=sort or data[category].to_list(), title=None, axis=alt.Axis(labelAngle=0)))
    val, val2 = (alt.X, alt.X2) if horizontal else (alt.Y, alt.Y2)
    tooltip = [alt.Tooltip(f"{category}:N"), alt.Tooltip("leads:Q", format=",.0f"),
               alt.Tooltip("won:Q", format=",.0f"), alt.Tooltip("open:Q", format=",.0f", title="still open"),
               alt.Tooltip("rate:Q", format=".1%", title="won so far"),
               alt.Tooltip("lo:Q", format=".1%", title="95% low"), alt.Tooltip("hi:Q", format=".1%", title="95% high")]
    base = alt.Chart(data, title=title).encode(cat, tooltip=tooltip)
    bar_enc: dict[str, Any] = {"color": _level_color(None) if by_level else alt.value("#4f46e5")}
    if by_level and "picked" in data.columns:
        bar_enc["opacity"] = alt.condition(alt.datum.picked, alt.value(1.0), alt.value(0.3))
    bars = base.mark_bar().encode(val("rate:Q", title="Won so far", axis=alt.Axis(format=".0%")), **bar_enc)
    errors = base.mark_errorbar(ticks=True, size=10, thickness=1.5, color="#111827").encode(val("lo:Q", title="Won so far"), val2("hi:Q"))
    text_enc = {"text": alt.Text("label:N")}
    labels = (base.mark_text(align="left", dx=6, color="#374151").encode(val("hi:Q"), **text_enc) if horizontal
              else base.mark_text(dy=-8, color="#374151").encode(val("hi:Q"), **text_enc))
    height = rows_height(data.height) if horizontal else 280
    return (bars + errors + labels).properties(height=height)


# ---------------------------------------------------------------- submissions


def segment_trend(trend: pl.DataFrame, bucket: str, *, param: str, title: str = "") -> alt.Chart:
    """Submissions per period stacked by segment (biggest at the bottom); clicking a segment selects it."""
    order = (trend.group_by("segment").agg(pl.col("submissions").sum())
             .sort(["submissions", "segment"], descending=[True, False])["segment"].to_list())
    data = trend.with_columns(rank=pl.col("segment").replace_strict(order, list(range(len(order)))))
    unit, fmt = {"day": ("yearmonthdate", "%b %d"), "week": ("yearmonthdate", "%b %d"),
                 "month": ("yearmonth", "%b %Y")}[bucket]
    select = alt.selection_point(name=param, fields=["segment"])
    return alt.Chart(data, title=title).mark_bar().encode(
        x=alt.X("period:O", timeUnit=unit, title=None, axis=alt.Axis(format=fmt, labelAngle=-45, labelOverlap=True)),
        y=alt.Y("submissions:Q", title=None, axis=alt.Axis(format=",.0f")),
        color=alt.Color("segment:N", title=None, sort=order, scale=alt.Scale(scheme="tableau20")),
        order=alt.Order("rank:Q"),
        opacity=alt.condition(select, alt.value(1.0), alt.value(0.3)),
        tooltip=[alt.Tooltip("period:T", title=f"{bucket} from", format="%Y-%m-%d"), alt.Tooltip("segment:N"),
                 alt.Tooltip("submissions:Q", format=",.0f")],
    ).add_params(select).properties(height=320)


def lead_timeline(events: pl.DataFrame, *, title: str = "") -> alt.LayerChart:
    """Stage changes as a step path through the funnel, activities as marks in their own lanes below."""
    present = set(events["lane"].to_list())
    lanes = [x for x in (*reversed(submissions.STAGE_LANES), *submissions.ACTIVITY_LANES) if x in present]
    lanes += sorted(present - set(lanes))
    y = alt.Y("lane:N", sort=lanes, title=None, scale=alt.Scale(domain=lanes))
    x = alt.X("at:T", title=None, axis=alt.Axis(format="%b %d", labelOverlap=True))
    tooltip = [alt.Tooltip("at:T", title="when", format="%Y-%m-%d %H:%M"), alt.Tooltip("detail:N", title="what")]
    color = alt.Color("kind:N", title=None, scale=alt.Scale(domain=["stage change", "activity"],
                                                           range=["#4f46e5", "#9ca3af"]))
    base = alt.Chart(events, title=title).encode(x=x, y=y, tooltip=tooltip)
    path = base.transform_filter(alt.datum.kind == "stage change").mark_line(
        interpolate="step-after", color="#c7d2fe")
    marks = base.mark_point(filled=True, size=80).encode(
        color=color, shape=alt.Shape("kind:N", title=None, scale=alt.Scale(domain=["stage change", "activity"],
                                                                           range=["circle", "diamond"])))
    # Streamlit fits the axes inside the height: leave room beyond the lanes so no lane label is dropped.
    return (path + marks).properties(height=70 + 30 * len(lanes))


def waterfall(factors: pl.DataFrame, *, title: str = "", total_label: str = "score") -> alt.LayerChart:
    """A score's breakdown: one bar per factor from where the running total was to where it went (columns
    factor, points, start, end, in order), green up and red down, and the total as its own bar."""
    data = _data(factors).select("factor", "points", "start", "end").with_columns(
        pl.int_range(pl.len()).alias("order"),
        pl.when(pl.col("points") >= 0).then(pl.lit("raises")).otherwise(pl.lit("lowers")).alias("direction"),
    )
    total = pl.DataFrame({"factor": [total_label], "points": [data["end"][-1] if data.height else 0.0],
                          "start": [0.0], "end": [data["end"][-1] if data.height else 0.0],
                          "order": [data.height], "direction": ["total"]}, schema=data.schema)
    data = pl.concat([data, total], how="vertical_relaxed")
    order = data["factor"].to_list()
    colors = alt.Scale(domain=["raises", "lowers", "total"], range=["#16a34a", "#dc2626", ACCENT])
    bars = alt.Chart(data, title=title).mark_bar(size=14).encode(
        y=alt.Y("factor:N", sort=order, title=None, axis=alt.Axis(labelLimit=320)),
        x=alt.X("start:Q", title="points", scale=alt.Scale(zero=True)), x2="end:Q",
        color=alt.Color("direction:N", scale=colors, legend=None),
        tooltip=[alt.Tooltip("factor:N"), alt.Tooltip("points:Q", format="+.1f"), alt.Tooltip("end:Q", format=".1f",
                                                                                              title="running total")],
    )
    labels = alt.Chart(data).mark_text(align="left", dx=4, fontSize=11).encode(
        y=alt.Y("factor:N", sort=order), x=alt.X("max_x:Q"), text=alt.Text("points:Q", format="+.1f"),
    ).transform_calculate(max_x="max(datum.start, datum.end)")
    return (bars + labels).properties(height=120 + 30 * data.height)


def shares_vs_weights(frame: pl.DataFrame, *, label: str, expected: str, actual: str, title: str = "") -> alt.LayerChart:
    """Each rep's actual share (bar) against the share their weight promises (tick)."""
    data = _data(frame)
    order = data.sort(expected, descending=True)[label].to_list()
    base = alt.Chart(data, title=title).encode(y=alt.Y(f"{label}:N", sort=order, title=None))
    bars = base.mark_bar(color=MUTED, cornerRadiusEnd=3).encode(
        x=alt.X(f"{actual}:Q", title="share of leads", axis=alt.Axis(format=".0%", tickCount=6)),
        tooltip=[alt.Tooltip(f"{label}:N"), alt.Tooltip(f"{actual}:Q", format=".1%", title="actual"),
                 alt.Tooltip(f"{expected}:Q", format=".1%", title="expected by weight")])
    ticks = base.mark_tick(color=ACCENT, thickness=3, size=18).encode(x=alt.X(f"{expected}:Q"))
    return (bars + ticks).properties(height=120 + 36 * data.height)


def territory_map(cities: pl.DataFrame, *, size: str, color: str, title: str = "") -> alt.Chart:
    """Cities on an Albers USA projection (no basemap: nothing is fetched), sized by `size`, coloured by `color`."""
    data = _data(cities)
    return alt.Chart(data, title=title).mark_circle(opacity=0.8, stroke="white", strokeWidth=0.5).encode(
        longitude="lon:Q", latitude="lat:Q",
        size=alt.Size(f"{size}:Q", title=size.replace("_", " "), scale=alt.Scale(range=[30, 900])),
        color=alt.Color(f"{color}:N", title=None),
        tooltip=[alt.Tooltip(c, type="quantitative" if data.schema[c].is_numeric() else "nominal")
                 for c in data.columns if c not in ("lat", "lon")],
    ).project(type="albersUsa").properties(height=380)


def durations(frame: pl.DataFrame, category: str, value: str, *, title: str = "", fmt: str = ".1f",
              value_title: str = "days") -> alt.Chart:
    """Plain horizontal bars in the frame's order (e.g. median days in each stage)."""
    return alt.Chart(_data(frame), title=title).mark_bar(color=ACCENT, cornerRadiusEnd=3).encode(
        y=alt.Y(f"{category}:N", sort=frame[category].to_list(), title=None),
        x=alt.X(f"{value}:Q", title=value_title),
        tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=fmt)],
    ).properties(height=100 + 30 * frame.height)


def forest(frame: pl.DataFrame, *, label: str, estimate: str, low: str, high: str, title: str = "",
           reference: float = 1.0, x_title: str = "odds ratio (log scale)") -> alt.LayerChart:
    """Estimates with their confidence intervals, one row each, against a reference line (1: no association);
    rows whose interval crosses it are drawn muted."""
    data = _data(frame).with_columns(
        clear=((pl.col(low) > reference) | (pl.col(high) < reference)).fill_null(False))
    order = data[label].to_list()
    base = alt.Chart(data, title=title).encode(y=alt.Y(f"{label}:N", sort=order, title=None,
                                                      axis=alt.Axis(labelLimit=320)))
    scale = alt.Scale(type="log")
    rules = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(f"{low}:Q", scale=scale, title=x_title), x2=f"{high}:Q",
        color=alt.condition("datum.clear", alt.value(ACCENT), alt.value(MUTED)))
    points = base.mark_point(filled=True, size=70).encode(
        x=alt.X(f"{estimate}:Q", scale=scale),
        color=alt.condition("datum.clear", alt.value(ACCENT), alt.value("#94a3b8")),
        tooltip=[alt.Tooltip(f"{label}:N"), alt.Tooltip(f"{estimate}:Q", format=".2f"),
                 alt.Tooltip(f"{low}:Q", format=".2f", title="95% low"),
                 alt.Tooltip(f"{high}:Q", format=".2f", title="95% high")])
    ref = alt.Chart(pl.DataFrame({"x": [reference]})).mark_rule(strokeDash=[4, 4], color="#64748b").encode(
        x=alt.X("x:Q", scale=scale))
    return (rules + points + ref).properties(height=100 + 32 * data.height)
