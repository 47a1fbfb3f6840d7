//! The scale run's two charts, size on the x axis (log): each read's and
//! the feed's median latency, and the flows' rates.

use crate::report::Row;
use plotters::prelude::*;
use std::collections::BTreeMap;

/// One line: its name and its (size, value) points.
type Series = BTreeMap<String, Vec<(f64, f64)>>;

/// Writes `scale-latency.svg` and `scale-throughput.svg` into `dir`.
pub fn draw(dir: &str, points: &[(u64, Vec<Row>)]) -> anyhow::Result<()> {
    let mut latency = Series::new();
    let mut rates = Series::new();
    for (size, rows) in points {
        for row in rows {
            let x = *size as f64;
            if row.unit == "ms p50" {
                latency
                    .entry(row.measure.clone())
                    .or_default()
                    .push((x, row.value.max(0.01)));
            } else if row.unit.ends_with("/s") {
                let flow = row.scenario.split(": ").nth(1).unwrap_or(&row.scenario);
                rates
                    .entry(format!("{flow}: {} ({})", row.measure, row.unit))
                    .or_default()
                    .push((x, row.value.max(1.0)));
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    plot(
        &format!("{dir}/scale-latency.svg"),
        "Median latency by store size (log-log)",
        "milliseconds (median)",
        &latency,
    )?;
    plot(
        &format!("{dir}/scale-throughput.svg"),
        "Flow rates by store size",
        "per second",
        &rates,
    )
}

fn plot(path: &str, title: &str, y_desc: &str, series: &Series) -> anyhow::Result<()> {
    let xs = series.values().flatten().map(|p| p.0);
    let ys = || series.values().flatten().map(|p| p.1);
    let (x_min, x_max) = xs.fold((f64::MAX, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if x_max <= 0.0 {
        return Ok(());
    }
    let y_min = ys().fold(f64::MAX, f64::min) / 2.0;
    let y_max = ys().fold(0f64, f64::max) * 2.0;
    let root = SVGBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (x_min / 2.0..x_max * 2.0).log_scale(),
            (y_min..y_max).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("packages in PostgreSQL")
        .y_desc(y_desc)
        .x_label_formatter(&|x| super::label(x.round() as u64))
        .draw()?;
    for (index, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}
