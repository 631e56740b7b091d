"""The quality page on the real files, rendered in headless Chromium: what a person sees.

The page is built as the report stage builds it (from a validated partition file), opened from
``file://`` with no network, and the DOM plotly.js rendered is read back: every chart drawn,
every station named, the rule bars, the completeness cells and La Madeleine's stuck vane.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast.lake.ingest import discover
from forecast.quality import html as quality_html
from forecast.quality.report import quality_report
from forecast.quality.validate import Window, validate
from forecast.sources.common import RawFile
from forecast.sources.registry import recognise_file
from tests import browser
from tests.realdata.test_quality_real import NOW, PARSERS

pytestmark = pytest.mark.realdata

NAMES = {
    "00052": "Armentières",
    "000R5": "Bergues",
    "07015": "Lille-Lesquin",
    "STATIC0010": "Hazebrouck",
    "IICHTE19": "WeerstationBS",
    "ILAMAD25": "La Madeleine",
}
STUCK = "ILAMAD25-wind_direction-stuck_wind_direction"
# Lowest mean score first: La Madeleine 88.44 (the stuck vane), Hazebrouck 99.89 (8 missing
# directions), WeerstationBS 99.98, then the three InfoClimat stations at 100 by id.
CHART_ORDER = ("ILAMAD25", "STATIC0010", "IICHTE19", "00052", "000R5", "07015")


@pytest.fixture(scope="module")
def rendered(shared_raw, tmp_path_factory):
    """The real files validated (as tests/realdata/test_quality_real.py does), their page built
    from a validated partition file as the report stage builds it, rendered in Chromium."""
    files, _ = discover(shared_raw)
    observations, stations = [], []
    for f in files:
        content = Path(f.location).read_bytes()
        raw = RawFile(f.name, content, f"raw/{f.name}", hashlib.sha256(content).hexdigest())
        parsed = PARSERS[recognise_file(content, f.name).name](raw)
        observations.append(parsed.observations)
        stations.append(parsed.stations)
    extracted, described = pa.concat_tables(observations), pa.concat_tables(stations)
    validation = validate(extracted, stations=described, now=NOW)
    report = quality_report(extracted, validation, described, Window(), now=NOW)
    work = tmp_path_factory.mktemp("quality-page")
    partition = work / "part-00000.parquet"
    pq.write_table(validation.valid, partition)
    data = quality_html.chart_files([str(partition)], report)
    page = work / "run=real" / "quality.html"  # as in the reports zone, beside its assets
    page.parent.mkdir()
    asset = work / quality_html.PLOTLY_ASSET
    asset.parent.mkdir()
    asset.write_bytes(quality_html.plotly_asset())
    page.write_text(
        quality_html.quality_page(report, data, described, run_id="real", window=Window()),
        encoding="utf-8",
    )
    dom = browser.dump_dom(page, work / "profile-dom")
    png = browser.screenshot(page, work / "quality.png", work / "profile-png")
    return validation, browser.parse(dom), png


def test_every_chart_is_drawn_with_its_title(rendered):
    _, dom, png = rendered
    divs = ["completeness", "rules", *(f"series-{s}" for s in
            CHART_ORDER)]  # fmt: skip
    found = [e.attrs["id"] for e in dom.find_all("div", "plotly-graph-div")]
    assert found == divs
    for div in divs:
        assert dom.by_id(div).find_all("svg", "main-svg"), f"{div} was not rendered"
    titles = dom.texts("gtitle")
    assert titles[:2] == [
        "Completeness per station and UTC day (received / expected at the cadence)",
        "Rejections and warnings per rule",
    ]
    assert titles[2:] == [
        f"{NAMES[s]} ({s}): per 1 h mean, min-max band, flagged readings" for s in
        CHART_ORDER
    ]  # fmt: skip
    panels = dom.by_id("series-ILAMAD25").texts("annotation-text")
    assert panels == ["temperature (degC)", "humidity (%)", "pressure (hPa)",
                      "wind speed (km/h)", "wind direction (deg)"]  # fmt: skip
    assert png.stat().st_size > 50_000  # a 1400x3000 picture of charts, not a blank page
    # plotly.js came from the zone's shared copy beside the page (file://, no network)
    sources = [e.attrs["src"] for e in dom.find_all("script") if e.attrs.get("src")]
    assert sources == [quality_html.PLOTLY_SOURCE]


def test_the_completeness_heatmap_names_every_station_and_shows_ichtegems_gaps(rendered):
    _, dom, _ = rendered
    heatmap = dom.by_id("completeness")
    rows = [e.text for g in heatmap.find_all("g", "ytick") for e in g.find_all("text")]
    assert sorted(rows) == sorted(f"{name} ({s})" for s, name in NAMES.items())
    cells = [e.text for g in heatmap.find_all("g", "heatmap-label") for e in g.find_all("text")]
    # Open window: the 4 InfoClimat stations span 3 days, the 2 WU ones 8, so 4 * 3 + 2 * 8 = 28
    # labelled cells (the others expect nothing: blank); WeerstationBS's 7 missing readings
    # (3 gaps) fall on 2024-10-02 and 2024-10-03.
    assert len(cells) == 28
    assert sorted(c for c in cells if c != "100%") == ["99%", "99%"]


def test_the_rule_bars_show_the_stuck_vane_count(rendered):
    _, dom, _ = rendered
    bars = dom.by_id("rules")
    assert "stuck_wind_direction" in [e.text for e in bars.find_all("g", "ytick")
                                      for e in e.find_all("text")]  # fmt: skip
    assert bars.texts("bartext") == ["1456"]  # the only rule that fired on the real files


def test_la_madeleines_stuck_vane_is_marked_reading_by_reading(rendered):
    validation, dom, _ = rendered
    chart = dom.by_id("series-ILAMAD25")
    (trace,) = chart.find_all("g", f"trace{STUCK}")
    points = trace.find_all("path", "point")
    # 1,456 readings fired stuck_wind_direction; 35 of them are calm (no direction to draw),
    # so 1,421 crosses are drawn (under the 2,000 cap: none left out).
    assert len(points) == 1421
    by_hand = sum(
        1
        for row in validation.valid.select(
            ["station_id", "wind_direction", "quality_rules"]
        ).to_pylist()
        if row["station_id"] == "ILAMAD25"
        and "stuck_wind_direction" in row["quality_rules"]
        and row["wind_direction"] is not None
    )
    assert by_hand == len(points)
    assert "stuck_wind_direction: 1456 flagged (1421 shown, 35 without a value)" in chart.texts(
        "legendtext"
    )
    for other in ("IICHTE19", "STATIC0010", "00052", "000R5", "07015"):
        legend = dom.by_id(f"series-{other}").texts("legendtext")
        assert not [t for t in legend if "flagged" in t], other
