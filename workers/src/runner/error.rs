/// Why a consumer stopped: the pool then reconnects.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("broker channel failed: {0}")]
    Channel(#[from] lapin::Error),
    #[error("the broker ended the consumer")]
    ConsumerEnded,
    /// A window was abandoned because publishing failed, not for shutdown.
    #[error("the publishing connection was lost")]
    PublishingLost,
    #[error("a consumer task panicked: {0}")]
    Panicked(String),
}
