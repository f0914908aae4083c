"""Outcome reports over the consent log: counts and rates by region, day, trunk or language,
and a chart of outcomes over time per region (matplotlib, no display needed)."""

from ..core.contract import RESULTS


class ChartUnavailable(RuntimeError):
    pass


GROUPS = {"region": "COALESCE(governing, 'unknown')", "day": "substr(started_at, 1, 10)",
          "trunk": "COALESCE(NULLIF(trunk_region, ''), 'unknown')",
          "language": "COALESCE(language, '')"}
OUTCOMES = (*RESULTS, "withdrawn")


def period(since, until):
    """The WHERE clause (and its parameters) of calls in [since, until), the log's own
    `system` call left out."""
    where, params = ["id != 'system'"], []
    for bound, operator in ((since, ">="), (until, "<")):
        if bound:
            where.append(f"started_at {operator} ?")
            params.append(bound)
    return " AND ".join(where), params


def rows(db, by="region", since=None, until=None):
    """[{group, calls, <outcome>: n, <outcome>_rate: share}] in one aggregate query."""
    counts = ", ".join(f"SUM(result = '{o}') AS \"{o}\"" for o in OUTCOMES)
    where, params = period(since, until)
    query = (f"SELECT {GROUPS[by]} AS grp, COUNT(*) AS calls, {counts} FROM calls WHERE "
             f"{where} GROUP BY grp ORDER BY grp")
    report = []
    for row in db.query(query, params):
        item = {"group": row["grp"], "calls": row["calls"]}
        for outcome in OUTCOMES:
            item[outcome] = row[outcome] or 0
            item[f"{outcome}_rate"] = round(item[outcome] / row["calls"], 4)
        report.append(item)
    return report


def chart(db, path, since=None, until=None):
    """Recorded share (granted + notified) per day, one line per region; returns the number
    of series drawn."""
    try:
        import matplotlib
    except ImportError:
        raise ChartUnavailable("Charts need matplotlib: pip install 'agi-consent[charts]'.")
    matplotlib.use("Agg")
    from matplotlib import pyplot

    where, params = period(since, until)
    series = {}
    for row in db.query(
            "SELECT COALESCE(governing, 'unknown') AS region, substr(started_at, 1, 10) AS day, "
            "COUNT(*) AS calls, SUM(result IN ('granted', 'notified')) AS recorded FROM calls "
            f"WHERE {where} GROUP BY region, day ORDER BY day", params):
        series.setdefault(row["region"], []).append((row["day"], row["recorded"] / row["calls"]))
    figure, axes = pyplot.subplots(figsize=(10, 5))
    for region, points in sorted(series.items()):
        axes.plot([d for d, _ in points], [100 * share for _, share in points], marker="o",
                  label=region)
    axes.set_ylabel("calls recorded (granted or notified), %")
    axes.set_title("Consent outcomes over time, by governing jurisdiction")
    axes.set_ylim(0, 100)
    if series:
        axes.legend(loc="best", fontsize="small")
    figure.autofmt_xdate()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)
    return len(series)
