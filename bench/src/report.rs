//! What a run measured: one row per figure, with its baseline and target,
//! printed as a table or JSON, and the broadcast latency chart.

use hdrhistogram::Histogram;
use serde::Serialize;

/// A target a figure must meet.
#[derive(Debug, Clone, Copy, Serialize)]
pub enum Target {
    /// At least this value (same unit as the figure).
    AtLeast(f64),
    /// At least this fraction of the baseline.
    RatioAtLeast(f64),
    /// At most this value.
    AtMost(f64),
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub measure: String,
    pub value: f64,
    pub unit: String,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub p999_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// (baseline name, its value in the same unit)
    pub baseline: Option<(String, f64)>,
    pub target: Option<Target>,
    pub note: String,
    /// The load behind the figure: requests answered as expected, and not.
    pub requests: Option<Requests>,
}

/// How a load's requests were answered.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Requests {
    pub ok: u64,
    pub failed: u64,
}

impl Requests {
    /// A load that got nothing through, or had an unexpected answer, proves
    /// nothing about the figure (a smoke run fails on it).
    pub fn suspect(&self) -> bool {
        self.ok == 0 || self.failed > 0
    }
}

impl Row {
    /// A load's p99 as a row of its own, against a ceiling in milliseconds.
    pub fn p99(scenario: &str, latency: &Histogram<u64>, at_most_ms: f64) -> Self {
        Row::new(
            scenario,
            "p99 latency",
            latency.value_at_quantile(0.99) as f64 / 1000.0,
            "ms",
        )
        .target(Target::AtMost(at_most_ms))
    }

    pub fn new(scenario: &str, measure: &str, value: f64, unit: &str) -> Self {
        Self {
            scenario: scenario.to_owned(),
            measure: measure.to_owned(),
            value,
            unit: unit.to_owned(),
            p50_ms: None,
            p99_ms: None,
            p999_ms: None,
            max_ms: None,
            baseline: None,
            target: None,
            note: String::new(),
            requests: None,
        }
    }

    /// Percentiles from a histogram of microseconds.
    pub fn latency(mut self, histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return self;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        self.p50_ms = Some(ms(histogram.value_at_quantile(0.50)));
        self.p99_ms = Some(ms(histogram.value_at_quantile(0.99)));
        self.p999_ms = Some(ms(histogram.value_at_quantile(0.999)));
        self.max_ms = Some(ms(histogram.max()));
        self
    }

    /// Records how the load behind this figure was answered.
    pub fn answers(mut self, result: &crate::load::LoadResult) -> Self {
        self.requests = Some(Requests {
            ok: result.ok,
            failed: result.failed,
        });
        self
    }

    pub fn baseline(mut self, name: &str, value: f64) -> Self {
        self.baseline = Some((name.to_owned(), value));
        self
    }

    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    pub fn ratio(&self) -> Option<f64> {
        let (_, baseline) = self.baseline.as_ref()?;
        (*baseline > 0.0).then(|| self.value / baseline)
    }

    /// Whether the target is met; `None` without a target.
    pub fn met(&self) -> Option<bool> {
        Some(match self.target? {
            Target::AtLeast(min) => self.value >= min,
            Target::AtMost(max) => self.value <= max,
            Target::RatioAtLeast(min) => self.ratio()? >= min,
        })
    }
}

fn number(value: f64) -> String {
    if value >= 100_000.0 {
        format!("{:.0}k", value / 1000.0)
    } else if value >= 10_000.0 {
        format!("{:.1}k", value / 1000.0)
    } else if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn millis(value: Option<f64>) -> String {
    value.map_or_else(String::new, |ms| format!("{ms:.1}"))
}

pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | measure | value | p50 ms | p99 ms | p99.9 ms | max ms | baseline (same run) | ratio | target | met | note |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let baseline = row
            .baseline
            .as_ref()
            .map_or_else(String::new, |(name, value)| {
                format!("{name}: {}", number(*value))
            });
        let target = match row.target {
            Some(Target::AtLeast(v)) => format!(">= {}", number(v)),
            Some(Target::AtMost(v)) => format!("<= {}", number(v)),
            Some(Target::RatioAtLeast(r)) => format!(">= {r:.2}x"),
            None => String::new(),
        };
        let met = match row.met() {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        out += &format!(
            "| {} | {} | {} {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.scenario,
            row.measure,
            number(row.value),
            row.unit,
            millis(row.p50_ms),
            millis(row.p99_ms),
            millis(row.p999_ms),
            millis(row.max_ms),
            baseline,
            row.ratio().map_or_else(String::new, |r| format!("{r:.2}x")),
            target,
            met,
            row.note
        );
    }
    out
}

/// The latency distribution as an SVG line chart: percentile → milliseconds.
pub fn latency_chart(path: &str, title: &str, histogram: &Histogram<u64>) -> anyhow::Result<()> {
    use plotters::prelude::*;
    if histogram.is_empty() {
        return Ok(());
    }
    let points: Vec<(f64, f64)> = (0..=1000)
        .map(|i| {
            // Denser towards the tail: 0..99.99th percentile.
            let q = 1.0 - 10f64.powf(-4.0 * i as f64 / 1000.0);
            let nines = -(1.0 - q).log10();
            (nines, histogram.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect();
    let max_ms = points.iter().map(|p| p.1).fold(1.0, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..4f64, 0f64..max_ms)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("post-to-receipt latency (ms)")
        .x_label_formatter(&|nines| match *nines as i64 {
            0 => "0".into(),
            1 => "90".into(),
            2 => "99".into(),
            3 => "99.9".into(),
            _ => "99.99".into(),
        })
        .draw()?;
    chart.draw_series(LineSeries::new(points, &BLUE))?;
    root.present()?;
    Ok(())
}
