//! Reading a service's `/metrics` the way Prometheus does, and the values of
//! its samples.

use std::collections::HashMap;

/// One scrape: every sample, parsed as Prometheus text.
pub struct Scrape(prometheus_parse::Scrape);

/// Scrapes `url`, insisting that it answers 200 with Prometheus text.
pub async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.expect("GET /metrics");
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain"),
        "{url}: content type {content_type}"
    );
    let text = response.text().await.expect("the metrics");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    Scrape(prometheus_parse::Scrape::parse(lines).expect("Prometheus text"))
}

impl Scrape {
    /// The value of `name` with exactly these labels (a counter, a gauge, or a
    /// histogram's `_count`/`_sum` by their full names); 0 when absent, as a
    /// counter that never moved is.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: HashMap<&str, &str> = labels.iter().copied().collect();
        self.0
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| {
                let own: HashMap<&str, &str> = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                own == wanted
            })
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => 0.0,
            })
            .sum()
    }

    /// Every label value in the scrape.
    pub fn label_values(&self) -> Vec<String> {
        self.0
            .samples
            .iter()
            .flat_map(|s| s.labels.values().cloned())
            .collect()
    }

    /// Every metric name in the scrape.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.0.samples.iter().map(|s| s.metric.clone()).collect();
        names.sort();
        names.dedup();
        names
    }
}

/// A port nobody listens on now, for a process told where to listen.
///
/// Taken from below the kernel's ephemeral range (32768 and up here), so
/// neither `bind(…:0)` nor an outgoing connection can be handed it between
/// this call and the process binding it, and from a counter, so no two
/// tests of this binary get the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Another test binary running at the same time starts elsewhere.
    let offset = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..SPAN {
        let port = FIRST + (offset + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + SPAN)
}
