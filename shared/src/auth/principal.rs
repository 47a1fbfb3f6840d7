//! Who a message acts for, as it travels with every envelope.

use serde::{Deserialize, Serialize};

/// Who asked for the change: the account (`subject`, its `role`) and, when a
/// device's API key was used, the device. Empty for a sign-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub subject: Option<String>,
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// The client's address, as ingest saw it (for the audit trail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}
