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

/// A port nobody listens on now (for a process told where to listen).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
