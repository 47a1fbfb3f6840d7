//! The simulator's side of the API: an admin sets up couriers, devices,
//! parcels and runs; each courier's device posts its fixes through the
//! OsmAnd endpoint (as Traccar Client does) or the JSON API.

use anyhow::{bail, Context};
use serde_json::{json, Value};
use uuid::Uuid;

/// Requests made as an admin (or a dispatcher).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `http://host:port/api/v1`.
    base: String,
    token: Option<String>,
}

/// A courier's device, as registered.
pub struct Device {
    pub api_key: String,
    pub unique_id: String,
}

impl Api {
    /// Signs in with the bootstrap admin's email and password (or uses
    /// `token`); `None` for both works when authentication is disabled.
    pub async fn connect(
        base: &str,
        token: Option<String>,
        login: Option<(String, String)>,
    ) -> anyhow::Result<Self> {
        let mut api = Self {
            http: http_client()?,
            base: base.trim_end_matches('/').to_owned(),
            token,
        };
        if let (None, Some((email, password))) = (&api.token, login) {
            let body = api
                .send(
                    reqwest::Method::POST,
                    "/auth/login",
                    json!({"email": email, "password": password}),
                )
                .await
                .with_context(|| format!("signing in as {email}"))?;
            api.token = body["access_token"].as_str().map(str::to_owned);
        }
        Ok(api)
    }

    /// A new courier account; its id.
    pub async fn courier(&self, run: &str, n: usize) -> anyhow::Result<Uuid> {
        let body = json!({
            "email": format!("sim-{run}-{n}@couriers.example"),
            "password": format!("simulated-{}", Uuid::new_v4()),
            "name": format!("Courier {n} ({run})"),
            "role": "courier",
        });
        let user = self.send(reqwest::Method::POST, "/users", body).await?;
        id_of(&user)
    }

    /// A device for the courier: its API key and its generated OsmAnd id.
    pub async fn device(&self, courier_id: Uuid, name: &str) -> anyhow::Result<Device> {
        let body = json!({"name": name, "courier_id": courier_id});
        let device = self.send(reqwest::Method::POST, "/devices", body).await?;
        Ok(Device {
            api_key: text(&device, "api_key")?,
            unique_id: text(&device, "unique_id")?,
        })
    }

    /// A parcel bound for `address` at `destination` (latitude, longitude:
    /// its stop gets arrival estimates), moved to `in_transit`.
    pub async fn parcel(
        &self,
        tracking_number: &str,
        address: &str,
        destination: (f64, f64),
    ) -> anyhow::Result<()> {
        let body = json!({
            "tracking_number": tracking_number,
            "sender_name": "DeliverTrack Simulator", "sender_address": "Depot",
            "recipient_name": "Simulated Recipient", "recipient_address": address,
            "destination": {"latitude": destination.0, "longitude": destination.1},
        });
        self.send(reqwest::Method::POST, "/packages", body).await?;
        self.status(tracking_number, "in_transit", "Depot").await
    }

    /// A status change, answered once the package pool applied it.
    pub async fn status(
        &self,
        tracking_number: &str,
        status: &str,
        location: &str,
    ) -> anyhow::Result<()> {
        let body = json!({"status": status, "location": location});
        self.send(
            reqwest::Method::PUT,
            &format!("/packages/{tracking_number}/status"),
            body,
        )
        .await
        .map(drop)
    }

    /// Today's run for the courier; its id.
    pub async fn run(&self, courier_id: Uuid, stops: &[String]) -> anyhow::Result<Uuid> {
        let day = chrono::Utc::now().date_naive().to_string();
        let body = json!({"courier_id": courier_id, "day": day, "stops": stops});
        let delivery = self
            .send(reqwest::Method::POST, "/deliveries", body)
            .await?;
        id_of(&delivery)
    }

    pub async fn complete(&self, delivery_id: Uuid) -> anyhow::Result<()> {
        let body = json!({"status": "completed"});
        self.send(
            reqwest::Method::PATCH,
            &format!("/deliveries/{delivery_id}"),
            body,
        )
        .await
        .map(drop)
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("{method} {path} answered {status}: {text}");
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("an HTTP client")
}

fn id_of(body: &Value) -> anyhow::Result<Uuid> {
    text(body, "id")?.parse().context("an id that is a UUID")
}

fn text(body: &Value, field: &str) -> anyhow::Result<String> {
    body[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {field} in {body}"))
}

/// One fix of a courier's device.
#[derive(Debug, Clone, Copy)]
pub struct Fix {
    pub latitude: f64,
    pub longitude: f64,
    pub speed_mps: f64,
    pub heading_deg: f64,
    pub battery_pct: f64,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// How a device posts its fixes.
#[derive(Clone)]
pub enum Poster {
    /// Traccar Client's OsmAnd request: the fields in the query string,
    /// speed in knots, the device known by its unique id.
    OsmAnd { url: String, unique_id: String },
    /// `POST /api/v1/me/location` with the device's API key.
    Json { url: String, api_key: String },
}

const KNOTS_PER_MPS: f64 = 1.943_844;

impl Poster {
    pub async fn post(&self, http: &reqwest::Client, fix: &Fix) -> anyhow::Result<()> {
        let request = match self {
            Self::OsmAnd { url, unique_id } => http.post(url).query(&[
                ("id", unique_id.clone()),
                ("lat", format!("{:.6}", fix.latitude)),
                ("lon", format!("{:.6}", fix.longitude)),
                // Milliseconds: two fixes within a second stay two points.
                ("timestamp", fix.at.timestamp_millis().to_string()),
                ("speed", format!("{:.2}", fix.speed_mps * KNOTS_PER_MPS)),
                ("bearing", format!("{:.1}", fix.heading_deg)),
                ("batt", format!("{:.0}", fix.battery_pct)),
            ]),
            Self::Json { url, api_key } => {
                http.post(url).header("x-api-key", api_key).json(&json!({
                    "latitude": fix.latitude, "longitude": fix.longitude,
                    "recorded_at": fix.at, "speed_mps": fix.speed_mps,
                    "heading_deg": fix.heading_deg, "battery_pct": fix.battery_pct,
                }))
            }
        };
        let response = request.send().await.context("posting a fix")?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "a fix was refused: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    pub fn client() -> anyhow::Result<reqwest::Client> {
        http_client()
    }
}
